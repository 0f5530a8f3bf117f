#!/usr/bin/env python3
"""Signs a webhook the way a provider does, with the provider's own library.

Reads one JSON request on stdin, writes one JSON answer on stdout (the Rust tests run it
as a subprocess, see ../api/common/providers.rs). A JSON array of requests gets an array
of answers, in order, so signing many payloads costs one Python start.

Request:
    {"provider": "slack" | "standard" | "svix" | "discord" | "whatsapp" | "telegram",
     "secret": "...",             # discord: the 32-byte Ed25519 seed, hex
     "body": "<utf-8 text>",      # signed as its UTF-8 bytes, returned unchanged
     "timestamp": 1700000000,     # unix seconds; optional, default now (not whatsapp/telegram)
     "msg_id": "msg_...",         # standard/svix; optional, default a fresh one
     "content_type": "...",       # optional, default application/json
     "legacy_sha1": true}         # whatsapp only, optional: also Meta's X-Hub-Signature (sha1)
Answer:
    {"headers": {"Name": "value", ...}, "body": "<same text>"}
    plus "public_key": "<64 hex>" for discord.

Key generation:
    {"provider": "discord-keygen"} -> {"seed": "<64 hex>", "public_key": "<64 hex>"}
    {"provider": "whsec-keygen"}   -> {"secret": "whsec_<base64 of 24 random bytes>"}

Who signs what (each library is imported only when its provider is asked for):
    slack     slack_sdk.signature.SignatureVerifier(secret).generate_signature(timestamp=, body=)
              -> X-Slack-Signature: v0=<hex>, X-Slack-Request-Timestamp
    standard  standardwebhooks.webhooks.Webhook(secret).sign(msg_id, datetime, body)
              -> webhook-id, webhook-timestamp, webhook-signature: v1,<base64>
    svix      svix.webhooks.Webhook(secret).sign(msg_id, datetime, body)
              -> svix-id, svix-timestamp, svix-signature (the headers Svix sends; its
              libraries also accept the unbranded webhook-* names)
    discord   nacl.signing.SigningKey(seed).sign(timestamp || body).signature
              -> X-Signature-Ed25519: <128 hex>, X-Signature-Timestamp
    whatsapp  Meta ships no library: hmac.new(secret, body, sha256) from the standard library
              -> X-Hub-Signature-256: sha256=<hex>
    telegram  nothing to sign: X-Telegram-Bot-Api-Secret-Token: <secret>

Errors (bad JSON, unknown provider, missing field) go to stderr with exit status 2.
"""

import base64
import hashlib
import hmac
import json
import secrets as random
import sys
import time
from datetime import datetime, timezone


class RequestError(Exception):
    pass


def field(req, name):
    value = req.get(name)
    if not isinstance(value, str):
        raise RequestError(f"{req.get('provider')}: '{name}' must be a string")
    return value


def timestamp_of(req):
    ts = req.get("timestamp")
    if ts is None:
        return int(time.time())
    if isinstance(ts, bool) or not isinstance(ts, int):
        raise RequestError("'timestamp' must be an integer (unix seconds)")
    return ts


def msg_id_of(req):
    msg_id = req.get("msg_id")
    if msg_id is None:
        return "msg_" + random.token_hex(12)
    if not isinstance(msg_id, str) or not msg_id:
        raise RequestError("'msg_id' must be a non-empty string")
    return msg_id


def sign_slack(req, body):
    from slack_sdk.signature import SignatureVerifier

    ts = str(timestamp_of(req))
    signature = SignatureVerifier(field(req, "secret")).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": ts}, {}


def sign_standard(req, body):
    from standardwebhooks.webhooks import Webhook

    ts = timestamp_of(req)
    msg_id = msg_id_of(req)
    # An aware datetime: the library does `.replace(tzinfo=utc).timestamp()`, which would
    # shift a naive local time.
    signature = Webhook(field(req, "secret")).sign(msg_id, datetime.fromtimestamp(ts, tz=timezone.utc), body)
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}, {}


def sign_svix(req, body):
    from svix.webhooks import Webhook

    ts = timestamp_of(req)
    msg_id = msg_id_of(req)
    signature = Webhook(field(req, "secret")).sign(msg_id, datetime.fromtimestamp(ts, tz=timezone.utc), body)
    return {"svix-id": msg_id, "svix-timestamp": str(ts), "svix-signature": signature}, {}


def signing_key(seed_hex):
    from nacl.signing import SigningKey

    try:
        seed = bytes.fromhex(seed_hex)
    except ValueError:
        raise RequestError("discord: 'secret' must be the Ed25519 seed in hex") from None
    if len(seed) != 32:
        raise RequestError(f"discord: the seed must be 32 bytes, not {len(seed)}")
    return SigningKey(seed)


def sign_discord(req, body):
    key = signing_key(field(req, "secret"))
    ts = str(timestamp_of(req))
    signature = key.sign(ts.encode() + body.encode("utf-8")).signature
    headers = {"X-Signature-Ed25519": signature.hex(), "X-Signature-Timestamp": ts}
    return headers, {"public_key": bytes(key.verify_key).hex()}


def sign_whatsapp(req, body):
    secret = field(req, "secret").encode("utf-8")
    raw = body.encode("utf-8")
    headers = {"X-Hub-Signature-256": "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()}
    if req.get("legacy_sha1"):
        headers["X-Hub-Signature"] = "sha1=" + hmac.new(secret, raw, hashlib.sha1).hexdigest()
    return headers, {}


def sign_telegram(req, body):
    return {"X-Telegram-Bot-Api-Secret-Token": field(req, "secret")}, {}


SIGNERS = {
    "slack": sign_slack,
    "standard": sign_standard,
    "svix": sign_svix,
    "discord": sign_discord,
    "whatsapp": sign_whatsapp,
    "telegram": sign_telegram,
}


def discord_keygen():
    from nacl.signing import SigningKey

    key = SigningKey.generate()
    return {"seed": bytes(key).hex(), "public_key": bytes(key.verify_key).hex()}


def whsec_keygen():
    # standardwebhooks 1.1.0 has no secret generator; Svix's secrets are whsec_ + base64
    # of 24 random bytes. Checked by loading it back into the library.
    from standardwebhooks.webhooks import Webhook

    secret = "whsec_" + base64.b64encode(random.token_bytes(24)).decode("ascii")
    Webhook(secret)
    return {"secret": secret}


def answer(req):
    if not isinstance(req, dict):
        raise RequestError("each request must be a JSON object")
    provider = req.get("provider")
    if provider == "discord-keygen":
        return discord_keygen()
    if provider == "whsec-keygen":
        return whsec_keygen()
    signer = SIGNERS.get(provider)
    if signer is None:
        known = ", ".join(list(SIGNERS) + ["discord-keygen", "whsec-keygen"])
        raise RequestError(f"unknown provider {provider!r} (known: {known})")
    body = field(req, "body")
    headers, extra = signer(req, body)
    content_type = req.get("content_type", "application/json")
    if not isinstance(content_type, str):
        raise RequestError("'content_type' must be a string")
    headers["Content-Type"] = content_type
    return {"headers": headers, "body": body, **extra}


def main():
    try:
        request = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        print(f"sign.py: stdin is not one JSON value: {err}", file=sys.stderr)
        return 2
    try:
        if isinstance(request, list):
            result = []
            for index, req in enumerate(request):
                try:
                    result.append(answer(req))
                except RequestError as err:
                    raise RequestError(f"request [{index}]: {err}") from None
        else:
            result = answer(request)
    except RequestError as err:
        print(f"sign.py: {err}", file=sys.stderr)
        return 2
    sys.stdout.write(json.dumps(result))
    sys.stdout.write("\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
