"""Splits a SQL file into statements for `millrace wrap` (jobs/split-sql.ts runs it).

sqlparse's lexer knows strings, quoted identifiers, comments and dollar quoting, so a
semicolon inside any of them does not end a statement; comments stay with the statement
they precede (or, on the same line, follow). Reads the SQL on stdin and writes JSON on
stdout: one object per statement with its text (surrounding whitespace stripped), the
statement's type as sqlparse names it (SELECT, INSERT, CREATE...), the
1-based line the text starts on (`start`), the
1-based line of its first token that is not a comment, and its placeholders (`:name`) as
offsets into the text. Other placeholder styles are reported as errors with their line.
"""
import json
import re
import sys

import sqlparse
from sqlparse import tokens as T

NAMED = re.compile(r"^:[A-Za-z_][A-Za-z0-9_]*$")


def is_code(token):
    return not (token.is_whitespace or token.ttype in T.Comment or token.ttype is T.Punctuation and token.value == ";")


def split(text):
    statements, errors = [], []
    line = 1  # the line the current chunk starts on
    for stmt in sqlparse.parse(text):
        chunk = str(stmt)
        tokens = list(stmt.flatten())
        lead = len(chunk) - len(chunk.lstrip())
        body = chunk.strip()
        first_code = None
        offset = 0
        placeholders = []
        for tok in tokens:
            at = line + chunk.count("\n", 0, offset)
            if is_code(tok) and first_code is None:
                first_code = at
            if tok.ttype in T.Name.Placeholder:
                if NAMED.match(tok.value):
                    placeholders.append({"offset": offset - lead, "name": tok.value[1:]})
                else:
                    errors.append({"line": at, "message": f"placeholder {tok.value}: refer to parameters as :name"})
            offset += len(tok.value)
        if first_code is not None:
            statements.append({"text": body, "type": stmt.get_type(), "start": line + chunk.count("\n", 0, lead), "line": first_code, "placeholders": placeholders})
        elif any(tok.ttype in T.Comment for tok in tokens):
            # Only comments after the last statement: they stay with it (or, in a file of
            # nothing but comments, there is no statement to keep them).
            if statements:
                statements[-1]["text"] += "\n" + body
        # Else an empty statement (`;` alone): nothing to run.
        line += chunk.count("\n")
    return {"statements": statements, "errors": errors}


if __name__ == "__main__":
    json.dump(split(sys.stdin.read()), sys.stdout)
