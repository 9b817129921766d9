import subprocess
import sys

from audiogen.cli import main


def test_cli_version_and_help(capsys):
    try:
        main(["--version"])
    except SystemExit as e:
        assert e.code == 0
    assert "audiogen" in capsys.readouterr().out
    assert main([]) == 1


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "audiogen.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "COMMAND" in out.stdout
