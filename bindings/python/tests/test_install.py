"""The package installs offline into a virtual environment, exactly as the
README says, and works from there; the example script runs."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)


class TestInstall(unittest.TestCase):
    def test_venv_install_and_example(self):
        with tempfile.TemporaryDirectory(prefix="mutual-venv-") as tmp:
            src = os.path.join(tmp, "src")
            shutil.copytree(PACKAGE, src, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
            venv = os.path.join(tmp, "venv")
            subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], check=True)
            py = os.path.join(venv, "bin", "python")
            r = subprocess.run([py, "-m", "pip", "install", "--no-build-isolation", "--no-index", src],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            # Imported from the venv, not from the source tree.
            r = subprocess.run([py, "-c", "import mutual, os; print(mutual.version()); print(mutual.__file__)"],
                               capture_output=True, text=True, cwd=tmp)
            self.assertEqual(r.returncode, 0, r.stderr)
            version, where = r.stdout.split()
            self.assertRegex(version, r"^\d+\.\d+\.\d+$")
            self.assertTrue(where.startswith(venv), where)
            r = subprocess.run([py, os.path.join(PACKAGE, "examples", "sync_two_stores.py"), os.path.join(tmp, "w")],
                               capture_output=True, text=True, cwd=tmp)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("counters: {'rice-kg': 27.5}", r.stdout)
            self.assertIn("safe to remove: True", r.stdout)


if __name__ == "__main__":
    unittest.main()
