from common.cli import main
from tasks.sentiment import TASK

main(TASK)
