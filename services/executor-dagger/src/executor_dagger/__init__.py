"""The dagger executor: tasks from `cc.task.dispatch.dagger`, each in a fresh container (a
Dagger engine) or a fresh clone (engine-less), up to `CC_DAGGER_SLOTS` at a time per replica.

Run it with `python -m executor_dagger`. The task flow is `cc_taskrunner.TaskRunner`, the
message handling `cc_bus.executor`, both shared with the local executor.
"""

from executor_dagger.app import create_app
from executor_dagger.settings import Settings

__all__ = ["Settings", "create_app"]
