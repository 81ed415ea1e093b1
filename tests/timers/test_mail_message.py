"""The outbox's e-mails as a mail client reads them: encoded words, UTF-8 bodies, attachments."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as default_policy

import pytest

from app.services.mail_message import compose

SENT = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def _read(data: bytes):
    assert b"\n" not in data.replace(b"\r\n", b"")  # every line ends in CRLF, as SMTP wants
    return message_from_bytes(data, policy=default_policy)


def test_a_chinese_e_mail_reads_back_as_written():
    subject = "【待办】客诉单 CF-2026-000123 等待您的处理：8D 报告提交 — 质量部，请于 48 小时内完成"
    body = "张三，您好：\n\n客诉单 CF-2026-000123 的任务“8D 报告”已分派给您所在部门。\n"
    out = compose(sender="质量反馈中心 <feedback@example.com>", to_address="zhang.san@example.com",
                  subject=subject, body=body, locale="zh", sent_at=SENT)
    assert (out.sender, out.recipient) == ("feedback@example.com", "zhang.san@example.com")
    assert out.data.isascii()  # every non-ASCII character travels encoded
    message = _read(out.data)
    assert message["Subject"] == subject
    assert message["From"].addresses[0].display_name == "质量反馈中心"
    assert message["From"].addresses[0].addr_spec == "feedback@example.com"
    assert message["To"] == "zhang.san@example.com"
    assert message["Content-Language"] == "zh-CN"
    assert message["Date"].datetime == SENT
    assert message["Message-ID"].endswith("@feedback.local>")
    assert message.get_content_type() == "text/plain"
    assert message.get_content().replace("\r\n", "\n") == body  # MIME's canonical line break is CRLF
    assert not message.defects


def test_an_english_e_mail_stays_readable_text():
    body = "Dear Li Wei,\n\n" + "One year from delivery. " * 60 + "\n"  # one line of 1,440 characters
    out = compose(sender="feedback@example.com", to_address="Li Wei <li@example.com>",
                  subject="Your feedback CF-2026-000123: our reply", body=body, locale="en", sent_at=SENT)
    assert out.recipient == "li@example.com"
    assert b"Dear Li Wei," in out.data  # readable in the raw message, not base64
    assert max(len(line) for line in out.data.splitlines()) <= 78  # no line a mail server refuses
    message = _read(out.data)
    assert message["To"] == "Li Wei <li@example.com>"
    assert message["Content-Language"] == "en"
    assert message.get_content().replace("\r\n", "\n") == body  # MIME's canonical line break is CRLF


def test_a_line_break_in_a_subject_cannot_add_a_header():
    out = compose(sender="feedback@example.com", to_address="li@example.com",
                  subject="Complaint from ACME\nBcc: everyone@example.com", body="x", locale="en", sent_at=SENT)
    message = _read(out.data)
    assert message["Bcc"] is None
    assert message["Subject"] == "Complaint from ACME Bcc: everyone@example.com"


def test_an_attachment_keeps_its_chinese_file_name_and_bytes():
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 40
    out = compose(sender="feedback@example.com", to_address="manager@example.com", subject="管理报告 2026-03",
                  body="附件为 2026 年 3 月的管理报告。", locale="zh", sent_at=SENT,
                  attachments=[("管理报告-2026-03.pdf", "application/pdf", pdf)])
    message = _read(out.data)
    assert message.get_content_type() == "multipart/mixed"
    assert message.get_body(("plain",)).get_content() == "附件为 2026 年 3 月的管理报告。"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "管理报告-2026-03.pdf"
    assert attachment.get_content() == pdf


def test_a_long_ascii_subject_is_folded_and_reads_back_whole():
    subject = "Your feedback CF-2026-000123 about the control board of the CB-2 line: our reply and the next steps"
    out = compose(sender="Feedback Desk <feedback@example.com>", to_address="li@example.com", subject=subject,
                  body="x", locale="en", sent_at=SENT)
    assert max(len(line) for line in out.data.split(b"\r\n")) <= 78
    message = _read(out.data)
    assert message["Subject"] == subject
    assert message["From"].addresses[0].display_name == "Feedback Desk"


def test_an_address_that_is_not_ascii_is_written_in_utf8_for_smtputf8():
    out = compose(sender="feedback@example.com", to_address="张三@公司.中国", subject="您的反馈",
                  body="您好", locale="zh", sent_at=SENT)
    assert out.smtputf8 and out.recipient == "张三@公司.中国"
    assert "To: 张三@公司.中国\r\n".encode() in out.data  # an address cannot be an encoded word
    assert _read(out.data)["To"] == "张三@公司.中国"
    assert not compose(sender="feedback@example.com", to_address="li@example.com", subject="s", body="b",
                       locale="en", sent_at=SENT).smtputf8


def test_a_server_with_smtputf8_takes_it_and_one_without_refuses_it(smtp_port):
    import smtplib

    from app.services.mail_message import send
    from tests.timers.conftest import SmtpServer

    out = compose(sender="feedback@example.com", to_address="张三@公司.中国", subject="您的反馈",
                  body="您好", locale="zh", sent_at=SENT)
    for utf8 in (True, False):
        server = SmtpServer(smtp_port, enable_SMTPUTF8=utf8).start()
        try:
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
                if utf8:
                    send(smtp, out)
                    [message] = server.inbox.to("张三@公司.中国")
                    assert message["To"] == "张三@公司.中国" and message.get_content() == "您好"
                else:
                    with pytest.raises(smtplib.SMTPNotSupportedError):
                        send(smtp, out)
                    assert server.inbox.messages == []
        finally:
            server.stop()


@pytest.mark.parametrize("subject", [
    "您的反馈 CF-2026-000123：我们的答复" * 4,  # 3-byte characters and ASCII, over several words
    "客户满意度调查 😀" * 9,  # 4-byte characters, never split between two words
    "é" * 80,  # 2-byte characters
])
def test_a_long_subject_that_is_not_ascii_is_folded_into_words_that_read_back_whole(subject):
    out = compose(sender="feedback@example.com", to_address="li@example.com", subject=subject, body="您好",
                  locale="zh", sent_at=SENT)
    lines = out.data.split(b"\r\n")
    assert max(len(line) for line in lines) <= 78
    assert sum(line.startswith((b"Subject: =?utf-8?b?", b" =?utf-8?b?")) for line in lines) > 1
    assert _read(out.data)["Subject"] == subject


@pytest.mark.parametrize("body", ["", "a=b\n.\n..two dots\n" + "x" * 100 + " \n", "第一行\r\n第二行\n"])
def test_bodies_with_what_encodings_must_escape_read_back_as_written(body):
    out = compose(sender="feedback@example.com", to_address="li@example.com", subject="s", body=body,
                  locale="zh", sent_at=SENT)
    assert max(len(line) for line in out.data.split(b"\r\n")) <= 78
    message = _read(out.data)
    assert not message.defects
    assert message.get_content().replace("\r\n", "\n") == body.replace("\r\n", "\n")


def test_the_client_sends_bare_and_named_addresses_to_the_server(smtp_server):
    from app.services.mail_message import SmtpClient, send

    with SmtpClient("127.0.0.1", smtp_server.port, timeout=10) as smtp:
        send(smtp, compose(sender="质量反馈中心 <feedback@example.com>", to_address="zhang.san@example.com",
                           subject="您的反馈", body="您好", locale="zh", sent_at=SENT))
        # a caller's own envelope with a display name is still parsed, as smtplib does
        smtp.sendmail("Desk <feedback@example.com>", ["Li Wei <li@example.com>"], b"Subject: x\r\n\r\nx\r\n")
    [message] = smtp_server.inbox.to("zhang.san@example.com")
    assert message["Subject"] == "您的反馈" and message.get_content() == "您好"
    assert len(smtp_server.inbox.to("li@example.com")) == 1
