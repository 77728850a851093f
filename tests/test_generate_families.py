"""The generation checks read every family's own syntax: an assistant tool call rendered by the family's publisher chat template
(tests/family_models.py) and cut as training cuts it passes every check against the tools its rendered prompt offers, and the same
output naming a tool the prompt did not offer does not."""
import json
import pytest
from family_models import FAMILY_MODELS
from test_families import family_models  # noqa: F401  (session fixture: one tiny model folder per family)
from sft_nb.render.families import offered_tools
from sft_nb.runs.generate import check_response, check_tool_calls, end_of_turn
from sft_nb.render.template import ChatRenderer, render_call

def schema(name, description, **props):
    return {"type": "function", "function": {"name": name, "description": description,
                                             "parameters": {"type": "object", "properties": {k: {"type": v} for k, v in props.items()}, "required": list(props)}}}

TOOLS = [schema("bash", "run a shell command", command="string"), schema("read_file", "read a file", path="string")]
# DeepSeek-V3.1's template renders no tools: its model card puts this section in the system prompt.
DEEPSEEK_TOOLS = ("## Tools\nYou have access to the following tools:\n\n"
                  + "".join(f"### {t['function']['name']}\nDescription: {t['function']['description']}\n\nParameters: {json.dumps(t['function']['parameters'])}\n\n" for t in TOOLS)
                  + "IMPORTANT: ALWAYS adhere to this exact format for tool use:\n<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>tool_call_name<｜tool▁sep｜>"
                  "tool_call_arguments<｜tool▁call▁end｜>{{additional_tool_calls}}<｜tool▁calls▁end｜>")
ARGS = {"command": "ls -la /repo"}


def conversation(family: str) -> list[dict]:
    system = "You are a coding agent." + ("\n\n" + DEEPSEEK_TOOLS if family == "deepseek" else "")
    return [{"role": "system", "content": system}, {"role": "user", "content": "List the files in the repository root."},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "call_0123456789", "type": "function",
                                                                  "function": {"name": "bash", "arguments": json.dumps(ARGS)}}]}]


@pytest.mark.parametrize("name", list(FAMILY_MODELS))
def test_a_rendered_tool_call_passes_every_check_of_its_family(family_models, name):
    renderer = ChatRenderer(family_models[name])
    family = renderer.family
    rendered = render_call(renderer, conversation(family.name), TOOLS)
    output = rendered.trained[-1]  # what the model wrote, cut as training cuts it
    prompt = rendered.text.removesuffix(output)
    tools = offered_tools(family, prompt)
    assert tools == {"bash", "read_file"}, prompt
    checks = check_response(output, tools, family, think_open=prompt.rstrip().endswith("<think>"))
    assert {k: checks[k] for k in ("tool_calls", "tool_calls_ok", "known_tools", "ends_eot", "errors")} == \
        {"tool_calls": 1, "tool_calls_ok": True, "known_tools": True, "ends_eot": True, "errors": []}, output
    assert checks["think_ok"] is not False, output
    assert check_tool_calls(family, output.removesuffix(end_of_turn(output, family)))[0] == [{"name": "bash", "arguments": ARGS}]
    renamed = check_response(output.replace("bash", "rm_rf"), tools, family)
    assert (renamed["tool_calls_ok"], renamed["known_tools"]) == (True, False), output
    no_tools = renderer.render([{"role": "system", "content": "You are a coding agent."}, conversation(family.name)[1]], None, True)
    assert offered_tools(family, no_tools) is None and check_response(output, None, family)["known_tools"] is None
