"""Run a second app instance in its own process (to prove state is shared through Redis)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

_PRELUDE = """
import json, sys
from app import create_app
config, env, args = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
app = create_app(config, env=env)
client = app.test_client()
"""


def run_in_other_process(config: dict[str, Any], env: dict[str, str], body: str, **args: Any) -> Any:
    """Build another app from `config`/`env` in a fresh interpreter, run `body`, return what it prints as JSON."""
    code = _PRELUDE + textwrap.dedent(body)
    serialisable = {k: v for k, v in config.items() if isinstance(v, (str, int, float, bool, type(None)))}
    done = subprocess.run([sys.executable, "-c", code, json.dumps(serialisable), json.dumps(env), json.dumps(args)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
