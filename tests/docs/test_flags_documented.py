"""The README's flag table and `l7tap --help` list the same flags, and every flag has its L7TAP_* variable."""
import os
import re
import subprocess
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(os.environ.get("L7TAP_BUILD_DIR", os.path.join(ROOT, "build")), "l7tap")


def help_text():
    run = subprocess.run([BINARY, "--help"], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    return run.stdout


def help_flags(text):
    """Flags as --help lists them: option lines start with two spaces, then '-h,--help' or '--name'."""
    return {m.group(1) for m in re.finditer(r"^  (?:-\w,)?(--[a-z0-9][a-z0-9-]*)", text, re.M)}


def readme_flags():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = re.search(r"^## Flags\n(.*?)^## ", text, re.M | re.S)
    assert section, "README.md has no '## Flags' section"
    flags = set()
    for row in section.group(1).splitlines():
        if not row.startswith("| `--"):
            continue
        first_cell = row.split("|")[1]
        flags.update(re.findall(r"`(--[a-z0-9][a-z0-9-]*)", first_cell))
    return flags


class FlagsDocumented(unittest.TestCase):
    def test_readme_table_equals_help(self):
        in_help, in_readme = help_flags(help_text()), readme_flags()
        self.assertGreater(len(in_help), 20)
        self.assertEqual(sorted(in_help - in_readme), [], "flags in --help missing from README's table")
        self.assertEqual(sorted(in_readme - in_help), [], "flags in README's table that --help does not know")

    def test_every_flag_names_its_environment_variable(self):
        text = help_text()
        for flag in help_flags(text) - {"--help"}:
            env = "L7TAP_" + flag[2:].upper().replace("-", "_")
            self.assertIn("(Env:%s)" % env, text, flag)


if __name__ == "__main__":
    unittest.main()
