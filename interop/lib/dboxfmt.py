"""interop/lib/dboxfmt.py - a strict parser of Dovecot dbox mail files (sdbox u.N, mdbox m.N).

Used by vectors/dbox/scripts/ (to write the manifest) and interop/lib/dbox.py (to check the
stores mailcrypt rewrote). Layout as observed in files the real builds wrote (vectors/dbox/README.md):

  file header line   "2 M<hex> C<hex>\\n"       version 2, per-mail header size (0x1e), create time
  per mail           "\\x01\\x02N" + 10 spaces + 16 upper-case hex digits (body size) + "\\n"
                     body (the mail_crypt container, or the plain mail)
                     "\\n\\x01\\x03\\n" + metadata lines "<letter><value>\\n" + "\\n"
  (mdbox: the next mail follows at once; the file ends after a metadata block)

Python 3 standard library only. Raises ValueError on anything else: never guesses.
"""

import os
import re

HDR = re.compile(rb"\x01\x02N {10}([0-9A-F]{16})\n")
FILE_HDR = re.compile(rb"2 M([0-9a-f]+) C([0-9a-f]+)\n")
POST = b"\n\x01\x03\n"
NAME = re.compile(r"^[um]\.[0-9]+$")


class DboxMail:
    def __init__(self, path, hdr_offset, body_offset, body_size, meta):
        self.path = path
        self.hdr_offset = hdr_offset        # offset of "\x01\x02N" (what mdbox's map index records)
        self.offset = body_offset           # offset of the container (hdr_offset + 30)
        self.size = body_size               # container size
        self.meta = meta                    # {"G": guid, "Z": hex, "V": hex, "R": hex, "B": box (mdbox)}

    @property
    def guid(self):
        return self.meta.get("G")


def parse(path, data=None):
    """all mails of one dbox file, in file order"""
    if data is None:
        with open(path, "rb") as f:
            data = f.read()
    m = FILE_HDR.match(data)
    if not m:
        raise ValueError("%s: no dbox file header" % path)
    hsize = int(m.group(1), 16)
    if hsize != 30:
        raise ValueError("%s: per-mail header size %d, not 30" % (path, hsize))
    p = m.end()
    out = []
    while p < len(data):
        h = HDR.match(data, p)
        if not h:
            raise ValueError("%s: no mail header at offset %d" % (path, p))
        size = int(h.group(1), 16)
        body = h.end()
        q = body + size
        if data[q:q + 4] != POST:
            raise ValueError("%s: no metadata block after the mail at %d" % (path, p))
        e = data.find(b"\n\n", q + 3)
        if e < 0:
            raise ValueError("%s: unterminated metadata block at %d" % (path, q))
        meta = {}
        for line in data[q + 4:e + 1].split(b"\n")[:-1]:
            if not line:
                raise ValueError("%s: empty metadata line at %d" % (path, q))
            meta[chr(line[0])] = line[1:].decode("utf-8")
        out.append(DboxMail(path, p, body, size, meta))
        p = e + 2
    return out


def dbox_files(root):
    """(layout, [paths]) of the dbox mail files below a store root (sdbox: mailboxes/*/dbox-Mails/u.N,
    mdbox: storage/m.N), sorted; layout None when neither is there"""
    files, lay = [], None
    for dp, _dn, fn in os.walk(root):
        for n in fn:
            if NAME.match(n):
                files.append(os.path.join(dp, n))
                lay = "mdbox" if n.startswith("m.") else "sdbox"
    return lay, sorted(files, key=lambda p: (os.path.dirname(p), int(p.rsplit(".", 1)[1])))


def sdbox_mailbox_uid(root, path):
    """sdbox: (mailbox, uid) from mailboxes/<name>/dbox-Mails/u.<uid>"""
    rel = os.path.relpath(path, root).split(os.sep)
    if len(rel) < 4 or rel[0] != "mailboxes" or rel[-2] != "dbox-Mails":
        raise ValueError("%s: not an sdbox mail path" % path)
    return "/".join(rel[1:-2]), int(rel[-1][2:])
