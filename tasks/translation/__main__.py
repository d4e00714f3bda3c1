from common.cli import main
from tasks.translation import TASK

main(TASK)
