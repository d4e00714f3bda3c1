from common.cli import main
from tasks.ner import TASK

main(TASK)
