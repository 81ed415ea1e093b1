"""An outbox e-mail as the bytes handed to the mail server.

A plain e-mail (every staff notice and customer reply) is written line by line (:func:`_plain`);
one with attachments is built with the ``email`` package's compat32 classes
(``MIMENonMultipart``, ``Header``). The modern ``EmailMessage`` API parses and refolds every
header it is given, which cost about 1 ms of the scheduler's CPU per e-mail — as much as sending
it — for messages whose headers we write ourselves; the compat32 classes still cost a third of an
e-mail. For the same reason a header that is already one short line of ASCII is written as it
is (:class:`_Wire`), the sender's address is worked out once, a bare recipient address is not
parsed, and :class:`SmtpClient` does not parse the envelope again. Non-ASCII text is encoded
as the standards ask: the subject and a sender's display name as RFC 2047 words, the body as
base64 UTF-8 (an ASCII body quoted-printable), an attachment's file name as an RFC 2231
parameter, an address in UTF-8 under SMTPUTF8.
"""

from __future__ import annotations

import base64
import functools
import re
import smtplib
from collections.abc import Sequence
from datetime import datetime
from email import encoders, quoprimime
from email.charset import QP, Charset
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import Compat32
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from typing import Any, NamedTuple


class Outgoing(NamedTuple):
    """An e-mail ready for ``smtplib.SMTP.sendmail``: the envelope and the message's bytes
    (:func:`send` hands it over)."""

    sender: str
    recipient: str
    data: bytes
    #: an address is not ASCII: the server must take it with the SMTPUTF8 extension
    smtputf8: bool = False


#: an address with nothing to parse: no display name, no comment, no quoting
_BARE_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:@\"]+@[^\s<>()\[\]\\,;:@\"]+", re.ASCII)


@functools.lru_cache(maxsize=16)  # the sender's: one configured address, parsed once
def _address(value: str) -> tuple[str, str]:
    """A header's form of an address (display name encoded when it is not ASCII) and the bare address."""
    if _BARE_ADDRESS.fullmatch(value):
        return value, value
    name, address = parseaddr(" ".join(value.splitlines()))
    return formataddr((name, address), charset="utf-8"), address


#: the headers that carry the addresses (written in UTF-8 under SMTPUTF8)
_ADDRESS_HEADERS = ("From", "To")


class _Wire(Compat32):
    """compat32 with the CRLF line ends of the wire (``smtplib`` sends bytes as they are), writing
    a header that is one line of ASCII within 78 characters as it is: compat32 would run each
    through ``Header`` to fold and encode what needs neither, most of a message's cost. With
    ``utf8`` (an address that is not ASCII, sent with SMTPUTF8), the address headers are written
    in UTF-8 as RFC 6532 asks: an address cannot be an encoded word."""

    utf8 = False

    def fold_binary(self, name: str, value: Any) -> bytes:
        if isinstance(value, str) and "\n" not in value and "\r" not in value:
            if value.isascii() and len(name) + len(value) <= 76:
                return f"{name}: {value}{self.linesep}".encode("ascii")
            if self.utf8 and name in _ADDRESS_HEADERS:
                return f"{name}: {value}{self.linesep}".encode()
        return super().fold_binary(name, value)


class _WireUtf8(_Wire):
    """:class:`_Wire` for a message sent with SMTPUTF8."""

    utf8 = True


_WIRE, _WIRE_UTF8 = _Wire(linesep="\r\n"), _WireUtf8(linesep="\r\n")

#: ASCII text travels quoted-printable: readable, and its long lines (a link, a pasted paragraph)
#: wrapped within the 998 characters a mail server accepts; anything else is UTF-8 in base64
_READABLE = Charset("utf-8")
_READABLE.body_encoding = QP


#: the longest run of UTF-8 bytes in one encoded word of a subject: 56 characters of base64, a word
#: of 68, and ``Subject: `` before the first, within the 78 characters of a line
_WORD_BYTES = 42


def _header_line(name: str, value: str, policy: _Wire) -> str:
    return policy.fold_binary(name, value).decode("utf-8" if policy.utf8 else "ascii")


def _subject_line(text: str, policy: _Wire) -> str:
    """The Subject header of one line of text: ASCII as the policy writes it (folded at its
    spaces when long), else RFC 2047 words (base64 UTF-8, never splitting a character), one per
    folded line: written here, for ``Header`` took a third of an e-mail's CPU to do the same."""
    if text.isascii():
        return _header_line("Subject", text, policy)
    words: list[bytes] = []
    chunk = b""
    for char in text:
        encoded = char.encode()
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    return "Subject: " + "\r\n ".join(f"=?utf-8?b?{base64.b64encode(word).decode()}?=" for word in words) + "\r\n"


def _plain(headers: Sequence[tuple[str, str]], subject: str, body: str, policy: _Wire) -> bytes:
    """A text/plain message without attachments, written line by line: what :func:`_text` and
    the generator would write (same headers, same encodings) at a fraction of their CPU."""
    if body.isascii():
        encoding, payload = "quoted-printable", quoprimime.body_encode(body, eol="\r\n")
    else:  # base64 lines of 76 characters, as email.base64mime writes them
        encoding, payload = "base64", base64.encodebytes(body.encode()).decode("ascii").replace("\n", "\r\n")
    lines = ["MIME-Version: 1.0\r\n", 'Content-Type: text/plain; charset="utf-8"\r\n',
             f"Content-Transfer-Encoding: {encoding}\r\n"]
    lines.extend(_header_line(name, value, policy) for name, value in headers)
    lines.append(_subject_line(subject, policy))
    lines.append("\r\n")
    lines.append(payload)
    return "".join(lines).encode("utf-8" if policy.utf8 else "ascii")


def _text(body: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", "plain")
    part.set_payload(body, _READABLE if body.isascii() else "utf-8")
    return part


def _attachment(data: bytes, content_type: str, filename: str) -> MIMEBase:
    maintype, _sep, subtype = content_type.partition("/")
    part = MIMEBase(maintype or "application", subtype or "octet-stream")
    part.set_payload(data)
    encoders.encode_base64(part)
    name: str | tuple[str, str, str] = filename if filename.isascii() else ("utf-8", "", filename)
    part.add_header("Content-Disposition", "attachment", filename=name)
    return part


def compose(*, sender: str, to_address: str, subject: str, body: str, locale: str, sent_at: datetime,
            attachments: Sequence[tuple[str, str, bytes]] = ()) -> Outgoing:
    """The e-mail from ``sender`` to ``to_address``; ``attachments`` as (file name, content type, data)."""
    one_line = " ".join(subject.splitlines())  # a line break in a header would start a header of its own
    from_header, from_address = _address(sender)
    to_header, to_address_only = _address(to_address)
    smtputf8 = not (from_address.isascii() and to_address_only.isascii())
    policy = _WIRE_UTF8 if smtputf8 else _WIRE
    headers = (("From", from_header), ("To", to_header), ("Date", format_datetime(sent_at)),
               ("Message-ID", make_msgid(domain="feedback.local")),
               ("Content-Language", "zh-CN" if locale == "zh" else "en"))
    if not attachments:  # every staff notice and customer reply
        return Outgoing(from_address, to_address_only, _plain(headers, one_line, body, policy), smtputf8)
    mixed = MIMEMultipart("mixed")
    mixed.attach(_text(body))
    for filename, content_type, data in attachments:
        mixed.attach(_attachment(data, content_type, filename))
    for name, value in headers:
        mixed[name] = value
    # compat32 takes a Header as a header's value (typeshed knows only str)
    subject_header: Any = one_line if one_line.isascii() else Header(one_line, "utf-8")
    mixed["Subject"] = subject_header
    return Outgoing(from_address, to_address_only, mixed.as_bytes(policy=policy), smtputf8)


class SmtpClient(smtplib.SMTP):
    """``smtplib.SMTP`` handed bare addresses (an :class:`Outgoing`'s envelope): ``MAIL FROM`` and
    ``RCPT TO`` write them in angle brackets as they are, where smtplib would parse each again
    (``quoteaddr``: a sixth of an e-mail's CPU). An address with anything around it is still parsed."""

    @staticmethod
    def _quoted(address: str) -> str:
        return f"<{address}>" if _BARE_ADDRESS.fullmatch(address) else smtplib.quoteaddr(address)

    def mail(self, sender: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        optionlist = ""
        if options and self.does_esmtp:
            if any(option.lower() == "smtputf8" for option in options):
                if not self.has_extn("smtputf8"):
                    raise smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by server")
                self.command_encoding = "utf-8"
            optionlist = " " + " ".join(options)
        self.putcmd("mail", f"FROM:{self._quoted(sender)}{optionlist}")
        return self.getreply()

    def rcpt(self, recip: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        optionlist = " " + " ".join(options) if options and self.does_esmtp else ""
        self.putcmd("rcpt", f"TO:{self._quoted(recip)}{optionlist}")
        return self.getreply()


def send(smtp: smtplib.SMTP, outgoing: Outgoing) -> None:
    """Hand ``outgoing`` to the mail server; an address that is not ASCII asks for SMTPUTF8 (a
    server without it refuses the e-mail: ``SMTPNotSupportedError``, a failed attempt)."""
    smtp.sendmail(outgoing.sender, [outgoing.recipient], outgoing.data,
                  mail_options=["SMTPUTF8"] if outgoing.smtputf8 else ())


__all__ = ["Outgoing", "SmtpClient", "compose", "send"]
