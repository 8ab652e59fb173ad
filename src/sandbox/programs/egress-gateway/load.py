"""Loads the egress gateway's modules from argv (name, text, name, text, ...) and runs it.

The image holds none of the gateway's code: egress/egress-gateway.ts passes every module's text as
an argument (src/sandbox/sandbox-scripts.ts), in the order they import each other.
"""

import sys
import types

for name, text in zip(sys.argv[1::2], sys.argv[2::2]):
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(text, name + ".py", "exec"), module.__dict__)  # noqa: S102 - the gateway's own modules
sys.modules["gateway_main"].run()
