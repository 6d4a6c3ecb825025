"""Exit 0 when this llama.cpp build can read a prompt: the bundled 0.5B model decodes a short one.

setup.sh runs it in a child process because a build that uses instructions the system does not
allow dies with a signal on its first batch, not with an exception.
"""

from ragcli.config import load_settings
from ragcli.generation import load_generator

generator = load_generator(load_settings(flags={"generation.model": "qwen2.5-coder-0.5b"}, environ={}))
"".join(generator.stream_chat([{"role": "user", "content": "Say hello to the user in five words."}], 2, 0.0))
