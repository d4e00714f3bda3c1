from common.cli import main
from tasks.language_model import TASK

main(TASK)
