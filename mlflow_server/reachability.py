"""Telling a tracking server that does not answer from any other MLflow failure.

MLflow reports an unreachable server as a long urllib3 message (the URL, the retry count, the
socket error); the user needs one line that says which server and that it is down.
"""

from __future__ import annotations

from driftline.core.config import mask_credentials

# Words urllib3/requests put in the message when no HTTP answer came back at all.
_NO_ANSWER = (
    "Connection refused",
    "Failed to establish a new connection",
    "Max retries exceeded",
    "Connection aborted",
    "RemoteDisconnected",
    "Read timed out",
)


def unreachable_server(err: BaseException, tracking_uri: str) -> str | None:
    """Name the tracking server if `err` (or an error it came from) is a failure to reach it.

    Args:
        err: the exception raised by an MLflow call (or by code wrapping one).
        tracking_uri: the tracking URI in use; only an ``http(s)://`` one can be unreachable.

    Returns:
        ``"the MLflow tracking server <uri> does not answer (<why>)"`` (credentials masked), or
        None for any other failure (a local store, a request the server answered and refused).
    """
    if not tracking_uri.startswith(("http://", "https://")):
        return None
    texts: list[str] = []
    seen: BaseException | None = err
    while seen is not None and len(texts) < 10:
        texts.append(str(seen))
        seen = seen.__cause__ or seen.__context__
    text = " ".join(texts)
    if not any(sign in text for sign in _NO_ANSWER):
        return None

    why = "connection refused" if "Connection refused" in text else "no response"
    return f"the MLflow tracking server {mask_credentials(tracking_uri)} does not answer ({why})"
