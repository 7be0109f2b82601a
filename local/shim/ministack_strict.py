"""ministack's ASGI app with every SigV4 header signature verified and no whole object held
in memory (run by hypercorn in ministack's own virtualenv; PYTHONPATH points here).

ministack skips the signature check for its root access keys (the configured one, `test`,
any 12-digit account id), so any local user could sign S3 requests with `test` and any
secret. Treating no key as exempt makes it verify them against the configured secret, as
it already does for presigned URLs and IAM users' keys. ministack_files.py keeps parts
and objects in files instead of memory; ministack_io.py reads request bodies in bigger pieces."""
import ministack.core.iam_evaluator as _evaluator

_evaluator._is_root_key = lambda access_key_id: False  # noqa: E731 - replaces a module function

import ministack_files  # noqa: E402
import ministack_io  # noqa: E402

ministack_files.install()
ministack_io.install()

from ministack.app import app  # noqa: E402,F401 - the ASGI app hypercorn serves
