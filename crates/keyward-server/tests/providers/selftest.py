#!/usr/bin/env python3
"""Checks sign.py and receiver.py against the vectors of shared/specs/integrations.md
(§1 Meta, §2 Slack, §4 Discord, §5 Standard Webhooks) and the providers' own libraries,
without Keyward, so a failure here is told apart from a failure of Keyward.

    .venv/bin/python selftest.py        # stdlib unittest; .ci/run runs it
"""

import json
import os
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request
from datetime import datetime, timezone
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
SIGN = os.path.join(HERE, "sign.py")
RECEIVER = os.path.join(HERE, "receiver.py")


def sign(request):
    """Runs sign.py on one request (or a list) and returns its parsed answer."""
    done = subprocess.run(
        [sys.executable, SIGN], input=json.dumps(request).encode(), capture_output=True, timeout=60
    )
    if done.returncode != 0:
        raise AssertionError(f"sign.py exited {done.returncode}: {done.stderr.decode()}")
    return json.loads(done.stdout)


def fixed_clock(unix):
    """A `datetime` for standardwebhooks.webhooks whose now() is `unix` (its tolerance
    check reads the module's global `datetime`; it takes no clock argument)."""

    class Fixed(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.fromtimestamp(unix, tz)

    import standardwebhooks.webhooks

    return mock.patch.object(standardwebhooks.webhooks, "datetime", Fixed)


# §5 and Svix's documentation example.
STD_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
STD_ID = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"
STD_TS = 1649367553
STD_BODY = '{"email":"test@example.com","username":"test_user"}'
STD_SIG = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
SVIX_DOC = {
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "msg_id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "timestamp": 1614265330,
    "body": '{"test": 2432232314}',
    "signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}

# Slack's worked example ("Verifying requests from Slack"), also in slack_sdk's own tests.
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TS = 1531420618
SLACK_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_SIG = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"

# §4: RFC 8032 §7.1 TEST 1.
ED_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
ED_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
ED_SIG = (
    "1695961a47c91a1ec033b819b7e87e3dbc583dd0cee6d1fd0216f58ac87b6228"
    "ae531ddbf91fb7bc28d7edf7f08604da16f54624f38a6bc0614e4dc13cd47f0f"
)


class Meta(unittest.TestCase):
    def test_vector_whatsapp_business_account(self):
        body = '{"object":"whatsapp_business_account","entry":[{"id":"0","changes":[]}]}'
        got = sign({"provider": "whatsapp", "secret": "test_app_secret", "body": body})
        self.assertEqual(
            got["headers"],
            {
                "X-Hub-Signature-256": "sha256=a37fa64f5d8354b552710ad1f2231eabc431936f4cb824b5dc6390568a05dede",
                "Content-Type": "application/json",
            },
        )
        self.assertEqual(got["body"], body)

    def test_vector_secret_test(self):
        got = sign({"provider": "whatsapp", "secret": "secret", "body": "test"})
        self.assertEqual(
            got["headers"]["X-Hub-Signature-256"],
            "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914",
        )

    def test_legacy_sha1_only_when_asked(self):
        got = sign({"provider": "whatsapp", "secret": "secret", "body": "test", "legacy_sha1": True})
        self.assertTrue(got["headers"]["X-Hub-Signature"].startswith("sha1="))
        self.assertEqual(len(got["headers"]["X-Hub-Signature"]), 5 + 40)


class Slack(unittest.TestCase):
    def verifier(self, secret, now):
        from slack_sdk.signature import SignatureVerifier

        class Clock:
            def now(self):
                return now

        return SignatureVerifier(secret, clock=Clock())

    def test_published_example(self):
        got = sign({"provider": "slack", "secret": SLACK_SECRET, "body": SLACK_BODY, "timestamp": SLACK_TS})
        self.assertEqual(got["headers"]["X-Slack-Signature"], SLACK_SIG)
        self.assertEqual(got["headers"]["X-Slack-Request-Timestamp"], str(SLACK_TS))
        self.assertTrue(self.verifier(SLACK_SECRET, SLACK_TS).is_valid_request(SLACK_BODY, got["headers"]))

    def test_signed_now_is_valid_and_tampering_is_not(self):
        from slack_sdk.signature import SignatureVerifier

        body = '{"type":"url_verification","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}'
        got = sign({"provider": "slack", "secret": "signing-secret", "body": body})
        h = got["headers"]
        self.assertEqual(set(h), {"X-Slack-Signature", "X-Slack-Request-Timestamp", "Content-Type"})
        self.assertLessEqual(abs(int(h["X-Slack-Request-Timestamp"]) - time.time()), 5)
        verifier = SignatureVerifier("signing-secret")
        self.assertTrue(verifier.is_valid(body, h["X-Slack-Request-Timestamp"], h["X-Slack-Signature"]))
        self.assertFalse(verifier.is_valid(body + " ", h["X-Slack-Request-Timestamp"], h["X-Slack-Signature"]))
        self.assertFalse(SignatureVerifier("other").is_valid_request(body, h))

    def test_old_timestamp_is_invalid_for_slack_sdk(self):
        got = sign({"provider": "slack", "secret": "s", "body": "{}", "timestamp": 1_700_000_000})
        self.assertTrue(self.verifier("s", 1_700_000_300).is_valid_request("{}", got["headers"]))
        self.assertFalse(self.verifier("s", 1_700_000_301).is_valid_request("{}", got["headers"]))

    def test_content_type_override(self):
        got = sign({"provider": "slack", "secret": "s", "body": "a=b", "content_type": "application/x-www-form-urlencoded"})
        self.assertEqual(got["headers"]["Content-Type"], "application/x-www-form-urlencoded")


class Discord(unittest.TestCase):
    def test_rfc8032_test1(self):
        from nacl.exceptions import BadSignatureError
        from nacl.signing import VerifyKey

        got = sign({"provider": "discord", "secret": ED_SEED, "body": '{"type":1}', "timestamp": 1700000000})
        self.assertEqual(got["public_key"], ED_PUBLIC)
        self.assertEqual(
            got["headers"],
            {"X-Signature-Ed25519": ED_SIG, "X-Signature-Timestamp": "1700000000", "Content-Type": "application/json"},
        )
        key = VerifyKey(bytes.fromhex(ED_PUBLIC))
        key.verify(b'1700000000{"type":1}', bytes.fromhex(ED_SIG))
        with self.assertRaises(BadSignatureError):
            key.verify(b'1700000000{"type":2}', bytes.fromhex(ED_SIG))

    def test_keygen_round_trip(self):
        from nacl.signing import VerifyKey

        pair = sign({"provider": "discord-keygen"})
        self.assertEqual(len(bytes.fromhex(pair["seed"])), 32)
        got = sign({"provider": "discord", "secret": pair["seed"], "body": '{"type":1}', "timestamp": 5})
        self.assertEqual(got["public_key"], pair["public_key"])
        VerifyKey(bytes.fromhex(pair["public_key"])).verify(
            b'5{"type":1}', bytes.fromhex(got["headers"]["X-Signature-Ed25519"])
        )


class StandardWebhooks(unittest.TestCase):
    def test_vector_with_standardwebhooks(self):
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError

        got = sign({"provider": "standard", "secret": STD_SECRET, "msg_id": STD_ID, "timestamp": STD_TS, "body": STD_BODY})
        self.assertEqual(
            got["headers"],
            {
                "webhook-id": STD_ID,
                "webhook-timestamp": str(STD_TS),
                "webhook-signature": STD_SIG,
                "Content-Type": "application/json",
            },
        )
        with fixed_clock(STD_TS + 299):
            self.assertEqual(Webhook(STD_SECRET).verify(STD_BODY, got["headers"]), json.loads(STD_BODY))
            with self.assertRaises(WebhookVerificationError):
                Webhook(STD_SECRET).verify(STD_BODY.replace("test_user", "test_usr"), got["headers"])
        with fixed_clock(STD_TS + 301), self.assertRaises(WebhookVerificationError):
            Webhook(STD_SECRET).verify(STD_BODY, got["headers"])

    def test_vector_with_svix(self):
        from svix.webhooks import Webhook, WebhookVerificationError

        got = sign({"provider": "svix", "secret": STD_SECRET, "msg_id": STD_ID, "timestamp": STD_TS, "body": STD_BODY})
        self.assertEqual(
            got["headers"],
            {"svix-id": STD_ID, "svix-timestamp": str(STD_TS), "svix-signature": STD_SIG, "Content-Type": "application/json"},
        )
        with fixed_clock(STD_TS):
            Webhook(STD_SECRET).verify(STD_BODY, got["headers"])
            # What standardwebhooks signs, svix verifies (unbranded headers).
            std = sign({"provider": "standard", "secret": STD_SECRET, "msg_id": STD_ID, "timestamp": STD_TS, "body": STD_BODY})
            Webhook(STD_SECRET).verify(STD_BODY, std["headers"])
            with self.assertRaises(WebhookVerificationError):
                Webhook("whsec_" + "A" * 32).verify(STD_BODY, got["headers"])

    def test_svix_documentation_example(self):
        got = sign({"provider": "svix", **{k: v for k, v in SVIX_DOC.items() if k != "signature"}})
        self.assertEqual(got["headers"]["svix-signature"], SVIX_DOC["signature"])

    def test_now_and_generated_id(self):
        from standardwebhooks.webhooks import Webhook

        got = sign({"provider": "standard", "secret": STD_SECRET, "body": "{}"})
        self.assertTrue(got["headers"]["webhook-id"].startswith("msg_"))
        Webhook(STD_SECRET).verify("{}", got["headers"])

    def test_whsec_keygen(self):
        from standardwebhooks.webhooks import Webhook

        secret = sign({"provider": "whsec-keygen"})["secret"]
        self.assertRegex(secret, r"^whsec_[A-Za-z0-9+/]{32}$")
        self.assertEqual(len(Webhook(secret)._whsecret), 24)
        got = sign({"provider": "standard", "secret": secret, "body": "{}"})
        Webhook(secret).verify("{}", got["headers"])


class SignCli(unittest.TestCase):
    def test_telegram(self):
        got = sign({"provider": "telegram", "secret": "abc_DEF-123", "body": "{}"})
        self.assertEqual(got["headers"], {"X-Telegram-Bot-Api-Secret-Token": "abc_DEF-123", "Content-Type": "application/json"})

    def test_batch_keeps_order(self):
        requests = [{"provider": "whatsapp", "secret": "secret", "body": f"body {i}"} for i in range(200)]
        answers = sign(requests)
        self.assertEqual([a["body"] for a in answers], [r["body"] for r in requests])
        self.assertEqual(answers[0]["headers"], sign(requests[0])["headers"])

    def test_non_ascii_body_is_signed_as_utf8(self):
        import hashlib
        import hmac

        body = '{"text":"héllo ☃"}'
        got = sign({"provider": "whatsapp", "secret": "k", "body": body})
        self.assertEqual(got["body"], body)
        expected = hmac.new(b"k", body.encode("utf-8"), hashlib.sha256).hexdigest()
        self.assertEqual(got["headers"]["X-Hub-Signature-256"], "sha256=" + expected)

    def test_errors_exit_2(self):
        for request in [{"provider": "nope"}, {"provider": "slack", "body": "x"}, [{"provider": "discord", "secret": "00", "body": ""}]]:
            done = subprocess.run([sys.executable, SIGN], input=json.dumps(request).encode(), capture_output=True)
            self.assertEqual(done.returncode, 2, request)
            self.assertIn(b"sign.py:", done.stderr)


class Receiver(unittest.TestCase):
    SECRET_A = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    SECRET_B = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"

    def setUp(self):
        self.proc = subprocess.Popen(
            [sys.executable, RECEIVER, "--port", "0", "--secret", self.SECRET_A, "--secret", self.SECRET_B, "--exit-on-stdin-eof"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        line = self.proc.stdout.readline()
        self.base = f"http://127.0.0.1:{json.loads(line)['port']}"

    def tearDown(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        self.proc.stdout.close()

    def http(self, method, path, body=b"", headers=None):
        req = urllib.request.Request(self.base + path, data=body if method == "POST" else None, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read()), dict(resp.headers)
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read()), dict(err.headers)

    def control(self, path, args):
        status, answer, _ = self.http("POST", path, json.dumps(args).encode())
        self.assertEqual(status, 200, answer)

    def log(self):
        return self.http("GET", "/_received")[1]

    def deliver(self, body, secret=None, extra=None, **overrides):
        signed = sign({"provider": "standard", "secret": secret or self.SECRET_A, "body": body, **overrides})
        headers = dict(signed["headers"])
        headers.update(extra or {})
        status, _, resp_headers = self.http("POST", "/app/hook", body.encode(), headers)
        return status, signed["headers"], resp_headers

    def test_accepts_signed_and_records_it(self):
        extra = {
            "x-keyward-provider": "slack",
            "x-keyward-event-id": "evt_1",
            "x-keyward-endpoint": "whe_1",
            "x-keyward-attempt": "1",
        }
        status, headers, _ = self.deliver('{"n":1}', extra=extra)
        self.assertEqual(status, 200)
        log = self.log()
        self.assertEqual((log["rejected"], log["failed"]), (0, 0))
        [record] = log["received"]
        self.assertEqual(record["webhook_id"], headers["webhook-id"])
        self.assertEqual(record["timestamp"], int(headers["webhook-timestamp"]))
        self.assertEqual(record["signature"], headers["webhook-signature"])
        self.assertEqual(
            (record["provider"], record["event_id"], record["endpoint"], record["attempt"]),
            ("slack", "evt_1", "whe_1", 1),
        )
        self.assertEqual((record["path"], record["body"], record["status"]), ("/app/hook", '{"n":1}', 200))
        self.assertEqual(record["headers"]["content-type"], "application/json")

    def test_rejects_tampered_and_unsigned(self):
        signed = sign({"provider": "standard", "secret": self.SECRET_A, "body": '{"n":1}'})
        status, answer, _ = self.http("POST", "/h", b'{"n":2}', signed["headers"])
        self.assertEqual(status, 400)
        self.assertIn("No matching signature", answer["reason"])
        self.assertEqual(self.http("POST", "/h", b"{}", {"Content-Type": "application/json"})[0], 400)
        status, _, _ = self.deliver("{}", secret="whsec_" + "A" * 32)  # a secret it does not know
        self.assertEqual(status, 400)
        old = int(time.time()) - 301
        self.assertEqual(self.deliver("{}", timestamp=old)[0], 400)
        log = self.log()
        self.assertEqual((log["rejected"], len(log["received"])), (4, 0))
        self.assertIn("too old", log["rejections"][3]["reason"])

    def test_any_secret_and_any_signature_of_the_header(self):
        self.assertEqual(self.deliver("{}", secret=self.SECRET_B)[0], 200)
        signed = sign({"provider": "standard", "secret": self.SECRET_B, "body": "{}"})
        h = signed["headers"]
        h["webhook-signature"] = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= " + h["webhook-signature"]
        self.assertEqual(self.http("POST", "/h", b"{}", h)[0], 200)
        self.assertEqual(len(self.log()["received"]), 2)

    def test_fail_counts_and_until_told(self):
        self.control("/_fail", {"status": 503, "count": 2, "retry_after": 7})
        first, _, resp = self.deliver('{"n":1}', extra={"x-keyward-attempt": "1"})
        self.assertEqual((first, resp.get("Retry-After")), (503, "7"))
        self.assertEqual(self.deliver('{"n":1}', extra={"x-keyward-attempt": "2"})[0], 503)
        self.assertEqual(self.deliver('{"n":1}', extra={"x-keyward-attempt": "3"})[0], 200)
        # A rejection does not use up an injected failure.
        self.control("/_fail", {"status": 500, "count": 1})
        self.assertEqual(self.http("POST", "/h", b"{}", {})[0], 400)
        self.assertEqual(self.deliver("{}")[0], 500)
        self.control("/_fail", {"status": 502, "count": -1})
        self.assertEqual([self.deliver("{}")[0] for _ in range(3)], [502, 502, 502])
        self.control("/_fail", {"count": 0})
        self.assertEqual(self.deliver("{}")[0], 200)
        self.control("/_fail", {"status": 503, "count": -1})
        self.control("/_fail", {"status": 200})
        self.assertEqual(self.deliver("{}")[0], 200)
        log = self.log()
        self.assertEqual((len(log["received"]), log["failed"], log["rejected"]), (3, 6, 1))
        self.assertEqual([f["attempt"] for f in log["failures"][:2]], [1, 2])
        self.assertEqual([f["status"] for f in log["failures"]], [503, 503, 500, 502, 502, 502])
        self.assertEqual(log["received"][0]["attempt"], 3)
        self.control("/_reset", {})
        self.assertEqual(self.log(), {"received": [], "rejected": 0, "failed": 0, "failures": [], "rejections": []})

    def test_bad_control_request(self):
        self.assertEqual(self.http("POST", "/_fail", b'{"status": 42}')[0], 400)
        self.assertEqual(self.http("POST", "/_secrets", b'{"secrets": "x"}')[0], 400)
        self.assertEqual(self.http("GET", "/elsewhere")[0], 404)

    def test_clock_and_secrets(self):
        # The §5 vector, at its own time, once the receiver's clock says so.
        self.control("/_secrets", {"secrets": [STD_SECRET]})
        headers = {"webhook-id": STD_ID, "webhook-timestamp": str(STD_TS), "webhook-signature": STD_SIG}
        self.assertEqual(self.http("POST", "/v", STD_BODY.encode(), headers)[0], 400)
        self.control("/_clock", {"now": STD_TS + 300})
        self.assertEqual(self.http("POST", "/v", STD_BODY.encode(), headers)[0], 200)
        self.control("/_clock", {"now": STD_TS + 301})
        self.assertEqual(self.http("POST", "/v", STD_BODY.encode(), headers)[0], 400)
        self.control("/_clock", {"now": None})
        self.assertEqual(self.deliver("{}", secret=STD_SECRET)[0], 200)
        self.assertEqual(self.deliver("{}", secret=self.SECRET_A)[0], 400)  # replaced
        self.control("/_secrets", {"secrets": []})
        self.assertEqual(self.deliver("{}", secret=STD_SECRET)[0], 400)

    def test_delay(self):
        self.control("/_delay", {"ms": 300})
        started = time.monotonic()
        self.assertEqual(self.deliver("{}")[0], 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.3)

    def test_concurrent_deliveries(self):
        signed = sign([{"provider": "standard", "secret": self.SECRET_A, "body": json.dumps({"n": i})} for i in range(40)])
        self.control("/_delay", {"ms": 200})
        statuses = []

        def post(answer):
            statuses.append(self.http("POST", "/c", answer["body"].encode(), answer["headers"])[0])

        threads = [threading.Thread(target=post, args=(a,)) for a in signed]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertLess(time.monotonic() - started, 40 * 0.2 / 2, "deliveries were not handled concurrently")
        self.assertEqual(statuses, [200] * 40)
        got = sorted(json.loads(r["body"])["n"] for r in self.log()["received"])
        self.assertEqual(got, list(range(40)))

    def test_exits_when_stdin_closes(self):
        self.proc.stdin.close()
        self.assertEqual(self.proc.wait(timeout=10), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
