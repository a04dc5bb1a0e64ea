#!/usr/bin/env python3
"""make-plain.py OUTDIR N WRITER_LABEL... -- N short LF-only mails OUTDIR/<n>.eml (deterministic).
Mail n names its writer and folder in the Subject (labels given as "n:writer:folder")."""
import os, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for spec in sys.argv[2:]:
    n, writer, box = spec.split(":")
    n = int(n)
    body = "".join("line %d of mail %d: the quick brown fox jumps over the lazy dog\n" % (i, n)
                   for i in range(1 + (n * 7) % 9))
    mail = (f"From: Alice Example <alice@example.org>\n"
            f"To: Bob Example <bob@example.net>\n"
            f"Subject: dbox sample mail {n} (written by {writer}, folder {box})\n"
            f"Date: Mon, 0{1 + n % 9} Jan 2024 10:{n:02d}:00 +0000\n"
            f"Message-ID: <dbox-{n}@example.org>\n"
            f"MIME-Version: 1.0\n"
            f"Content-Type: text/plain; charset=us-ascii\n\n"
            f"Hello Bob,\n\n{body}\nAlice\n")
    assert "\r" not in mail
    open(os.path.join(out, f"{n}.eml"), "w", newline="\n").write(mail)
