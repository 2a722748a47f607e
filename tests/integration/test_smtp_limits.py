"""Each per-VM limit of the relay triggers its SMTP reply, with real clients in the VMs. The
daemon runs with tight limits for this module (and the lab's own afterwards); every limit is
tried from its own VM or within the others' budgets, so they do not disturb each other."""
import json

import pytest

MX = {"v4": "203.0.113.1", "v6": "2001:db8:1::1"}
TIGHT = ("{ mode: proxy, listen_port: 10025, limits: { sessions: 3, connections_per_minute: 10, messages_per_hour: 4, "
         "recipients_per_message: 100, max_message_bytes: 100000 } }")


@pytest.fixture(scope="module", autouse=True)
def tight_limits(lab):
    lab.restart_daemon(TIGHT)
    ids = [json.loads(lab.cli("exemption", "grant", vm, "--ports", "25", "--reason", "lab: limit tests", "--expires", "1h",
                              "--json").stdout)["id"] for vm in ("priv", "brpriv")]
    yield
    for exemption in ids:
        lab.cli("exemption", "revoke", exemption, check=False)
    lab.restart_daemon()


def last_id(lab):
    messages = lab.mx_messages()
    return messages[-1]["id"] if messages else 0


def test_one_session_too_many_is_421(lab):
    out = lab.smtp_client("pub", "idle", MX["v4"], "--sessions", "4")
    assert [g[:3] for g in out["greetings"]] == ["220", "220", "220", "421"], out
    assert out["greetings"][3].startswith("421 4.7.0")


def test_connection_rate_is_421(lab):
    out = lab.smtp_client("priv", "connect", MX["v6"], "--count", "11")
    codes = [g[:3] for g in out["greetings"]]
    assert codes[:10] == ["220"] * 10 and codes[10] == "421", out
    assert out["greetings"][10].startswith("421 4.7.0")


def test_message_rate_is_451_4_7_1(lab):
    before = last_id(lab)
    out = lab.smtp_client("brpriv", "messages", MX["v4"], "--count", "5")
    assert [r[:3] for r in out["mail_replies"]] == ["250"] * 4 + ["451"], out
    assert out["mail_replies"][4].startswith("451 4.7.1")
    assert len([m for m in lab.mx_messages() if m["id"] > before]) == 4


def test_recipient_101_is_452(lab):
    out = lab.smtp_client("pub", "recipients", MX["v4"], "--count", "101")
    codes = [r[:3] for r in out["rcpt_replies"]]
    assert codes[:100] == ["250"] * 100 and codes[100] == "452", out["rcpt_replies"][-2:]


def test_size_declared_over_the_limit_is_552_at_mail(lab, tmp_path):
    body = tmp_path / "big.eml"
    body.write_bytes(b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * 200)
    out = lab.smtp_client("pub", "send", MX["v4"], "--file", body, "--size-param")
    assert "SIZE 100000" in out["ehlo"], out["ehlo"]
    assert out["mail"].startswith("552 5.3.4"), out


def test_size_over_the_limit_during_data_is_552_and_never_completed(lab, tmp_path):
    before = last_id(lab)
    body = tmp_path / "big.eml"
    body.write_bytes(b"Subject: big\r\n\r\n" + (b"z" * 998 + b"\r\n") * 200)
    out = lab.smtp_client("pub", "send", MX["v4"], "--file", body)
    assert out["final"].startswith("552 5.3.4"), out
    assert [m for m in lab.mx_messages() if m["id"] > before] == []
