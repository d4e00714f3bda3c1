from common.cli import main
from tasks.forecasting import TASK

main(TASK)
