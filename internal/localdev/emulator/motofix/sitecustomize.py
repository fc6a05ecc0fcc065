# Python loads this module at the start of the moto_server process that
# internal/localdev/emulator starts (PYTHONPATH names its folder): it
# fixes how moto checks an S3 request's signature, and nothing else.
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
