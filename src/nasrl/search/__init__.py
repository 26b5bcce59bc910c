"""The search: the loop (`loop`), the controller, the strategies, the evaluators and the executors."""
