"""Landing a run: its pull request (land `pr`) and the fast-forward of its base branch (land
`merge`), carried out by the planner's lander on `cc.control.land`, away from the status loop.
"""

from planner.landing.git_landing import GitLanding, LandFailure
from planner.landing.lander import Lander

__all__ = ["GitLanding", "LandFailure", "Lander"]
