# Python loads this module at the start of the moto_server process that
# internal/localdev/emulator starts (PYTHONPATH names its folder): it
# fixes how moto checks an S3 request's signature, and makes its DynamoDB
# writes take turns (below), and nothing else.
#
# moto recomputes the signature from the request's URL as its web server
# hands it over, with some escapes already decoded ("/" in a query value,
# "=" in a path), while SigV4 for S3 signs the URI-encoded path and query:
# the AWS SDK for Go signs prefix=raw%2Fday%3D2026-12-01%2F, moto checks
# prefix=raw/day%3D2026-12-01/, and refuses a request that S3 accepts. So
# a signature that moto's own form refuses is checked once more against
# the canonical form S3 uses (every segment of the path and every query
# key and value decoded, then encoded as SigV4 says, the query sorted).
# Authorization (the IAM policies) is unchanged.
try:
    from urllib.parse import parse_qsl, quote, unquote, urlsplit

    import moto.iam.access_control as _ac
except Exception:  # another Python program, or a moto without this class
    _ac = None


def _canonical(path):
    parts = urlsplit(path)
    p = quote(unquote(parts.path), safe="/-_.~")
    pairs = sorted(parse_qsl(parts.query, keep_blank_values=True))
    q = "&".join(quote(k, safe="-_.~") + "=" + quote(v, safe="-_.~") for k, v in pairs)
    return p + ("?" + q if q else "")


if _ac is not None and hasattr(_ac, "S3IAMRequest"):
    _check = _ac.S3IAMRequest.check_signature

    def check_signature(self):
        try:
            return _check(self)
        except Exception:
            saved = self._path
            self._path = _canonical(saved)
            try:
                return _check(self)
            finally:
                self._path = saved

    _ac.S3IAMRequest.check_signature = check_signature


# moto serves requests on threads but its DynamoDB writes do not take
# turns: two conditional UpdateItems on one item can both pass a condition
# the other makes false, and a TransactWriteItems snapshots each table it
# touches and, when one of its conditions fails, puts the whole snapshot
# back, undoing every write other requests made meanwhile (the ledger's
# deliveries of one org run at once, each recording its manifest in a
# transaction with the org's chain head). DynamoDB applies writes to an
# item one at a time and a transaction's failure undoes nothing else, so
# the writes (and the reads of single items, which must not see a
# transaction's half) take one lock here.
try:
    import threading

    import moto.dynamodb.models as _ddb
except Exception:
    _ddb = None

if _ddb is not None and hasattr(_ddb, "DynamoDBBackend"):
    _lock = threading.RLock()

    def _serial(fn):
        def serial(*args, **kwargs):
            with _lock:
                return fn(*args, **kwargs)

        return serial

    for _name in ("transact_write_items", "update_item", "put_item", "delete_item", "get_item"):
        if hasattr(_ddb.DynamoDBBackend, _name):
            setattr(_ddb.DynamoDBBackend, _name, _serial(getattr(_ddb.DynamoDBBackend, _name)))
