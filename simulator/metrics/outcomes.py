"""What can happen to a request or a call (the order of every outcome counter)."""

__all__ = ["OUTCOMES", "SUCCESS", "TIMEOUT", "SHED", "CONNECTION_ERROR", "DEPENDENCY_FAILURE", "CIRCUIT_OPEN", "ERROR"]

#: success; timeout (the caller gave up); shed (the queue was full); connection_error
#: (dead or reset replica, or none in rotation); dependency_failure (a required call
#: failed); circuit_open (rejected by a breaker); error (an application error).
OUTCOMES = ("success", "timeout", "shed", "connection_error", "dependency_failure", "circuit_open", "error")
SUCCESS, TIMEOUT, SHED, CONNECTION_ERROR, DEPENDENCY_FAILURE, CIRCUIT_OPEN, ERROR = range(7)
