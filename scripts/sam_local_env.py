"""Print the environment `sam local invoke/start-api --env-vars FILE` gives each function.

Runs under the SAM CLI's own interpreter (.tools/sam/bin/python) and uses SAM CLI's own code
for it - the template reader (SamLocalStackProvider, SamFunctionProvider), the env-vars file
reader (InvokeContext) and LocalLambdaRunner's resolution (template variables, overridden by
the shell, overridden by the file; only variables the template declares can be overridden) -
so tests/infrastructure/test_sam_local_env.py checks what a developer's container really gets.

Usage: sam_local_env.py TEMPLATE ENV_VARS_FILE  ->  JSON {logical id: {name: value}} on stdout.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path


def resolve(template: str, env_vars_file: str) -> dict[str, dict[str, str]]:
    from samcli.commands.local.cli_common.invoke_context import InvokeContext
    from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
    from samcli.lib.providers.sam_function_provider import SamFunctionProvider
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

    stacks, _ = SamLocalStackProvider.get_stacks(template)
    provider = SamFunctionProvider(stacks, ignore_code_extraction_warnings=True)
    runner = LocalLambdaRunner(
        local_runtime=None,  # type: ignore[arg-type]  # resolving env vars runs nothing
        function_provider=provider,
        cwd=str(Path(template).parent),
        real_path=str(Path(template).parent),
        env_vars_values=InvokeContext._get_env_vars_value(env_vars_file),
    )
    return {
        function.name: runner._make_env_vars(function).resolve() for function in provider.get_all()
    }


if __name__ == "__main__":
    logging.disable(logging.WARNING)
    json.dump(resolve(sys.argv[1], sys.argv[2]), sys.stdout, indent=1, sort_keys=True)
