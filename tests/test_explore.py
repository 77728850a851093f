"""sft_nb.ui.explore against hand-computed expectations and against LLaMA-Factory's own dataset pipeline: label masks for
several templates, the length budget against a direct tokenization, the over-length policies, template parity on planted
differences, and the tutorial notebook's run time."""
import json, time
import pytest
from tokenizers import Tokenizer
from conftest import BIN, REPO, run
from sft_nb.config.schema import load_config
from sft_nb.data.convert import convert
from sft_nb.sources.rows import check_lf_sample
from sft_nb.render.template import ChatRenderer, render_lf
from sft_nb.data.conversations import load_conversations
from sft_nb.render.encode import IGNORE_INDEX, LFEncoder, fit_sample, fit_summary, parity_check, template_parity
from sft_nb.ui.explore import budget_row, budget_summary, length_budget
from sft_nb.preflight.check import parity_warning
from sft_nb.ui.views import mask_view, show_mask


@pytest.fixture(scope="module")
def model(project):
    return project / "artifacts/demo/model"


@pytest.fixture(scope="module")
def data(project):
    cfg = load_config(project / "config.yaml", ["conversion.data_name=explore"], run_name="explore")
    convert(cfg, quiet=True)
    return cfg, load_conversations(cfg)


@pytest.fixture(scope="module")
def tok(model):
    "The plain `tokenizers` tokenizer: the direct tokenization the expectations are computed with."
    return Tokenizer.from_file(str(model / "tokenizer.json"))


def ids(tok, text):
    return tok.encode(text, add_special_tokens=False).ids


def chatml(role, content):
    return f"<|im_start|>{role}\n{content}<|im_end|>\n"


# --- label masks, by hand -------------------------------------------------------------------------------------------

TINY = [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
        {"role": "user", "content": "ok?"}, {"role": "assistant", "content": "ok"}]
P0 = chatml("system", "S") + "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
P1 = "<|im_start|>user\nok?<|im_end|>\n<|im_start|>assistant\n"
R0, R1 = "yo<|im_end|>\n", "ok<|im_end|>\n"
THINK = "<think>\n\n</think>\n\n"
QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

# template, data arguments, sample, [(prompt text, response text, prompt trained, response trained)]
MASK_CASES = {
    "qwen3_nothink": ("qwen3_nothink", {}, TINY, [(P0, R0, False, True), (P1, R1, False, True)]),
    "qwen3 adds a trained empty think": ("qwen3", {}, TINY, [(P0, THINK + R0, False, True), (P1, THINK + R1, False, True)]),
    "qwen injects its system prompt": ("qwen", {}, TINY[1:], [(chatml("system", QWEN_SYSTEM) + P0[len(chatml("system", "S")):], R0, False, True),
                                                                (P1, R1, False, True)]),
    "mask_history trains the last reply": ("qwen3_nothink", {"mask_history": True}, TINY, [(P0, R0, False, False), (P1, R1, False, True)]),
    "mask_history with qwen3 drops history think": ("qwen3", {"mask_history": True}, TINY, [(P0, R0, False, False), (P1, THINK + R1, False, True)]),
    "train_on_prompt trains everything": ("qwen3_nothink", {"train_on_prompt": True}, TINY, [(P0, R0, True, True), (P1, R1, True, True)]),
}


@pytest.mark.parametrize("case", MASK_CASES)
def test_label_mask_matches_hand_computed(model, tok, case):
    template, args, sample, turns = MASK_CASES[case]
    enc = LFEncoder(model, template=template, cutoff_len=2048, **args)
    want_ids, want_labels = [], []
    for p, r, train_p, train_r in turns:
        pi, ri = ids(tok, p), ids(tok, r)
        want_ids += pi + ri
        want_labels += (pi if train_p else [IGNORE_INDEX] * len(pi)) + (ri if train_r else [IGNORE_INDEX] * len(ri))
    e = enc.encode(sample)
    assert (e.input_ids, e.labels) == (want_ids, want_labels)
    view = mask_view(enc, sample)
    assert list(view.counts.trained) == [len(ids(tok, p)) * tp + len(ids(tok, r)) * tr for p, r, tp, tr in turns]
    assert list(view.counts.cut) == [0, 0]
    if not any(tp for _, _, tp, _ in turns):  # the {+ +} marks wrap exactly the trained replies
        marked = [chunk.split("+}")[0] for chunk in view.text().split("{+")[1:]]
        assert marked == [r for _, r, _, tr in turns if tr]


def test_truncation_keeps_a_short_reply_and_cuts_its_prompt(model, tok):
    "LLaMA-Factory's infer_seqlen: a reply shorter than half the room left is kept whole, its prompt is cut from its end."
    p0, r0, p1, r1 = (ids(tok, x) for x in (P0, R0, P1, R1))
    room = len(p1) - 1  # one token too few for the second exchange
    enc = LFEncoder(model, template="qwen3_nothink", cutoff_len=len(p0) + len(r0) + room)
    e = enc.encode(TINY)
    assert 2 * len(r1) < room
    assert e.input_ids == p0 + r0 + p1[:room - len(r1)] + r1
    assert e.labels == [IGNORE_INDEX] * len(p0) + r0 + [IGNORE_INDEX] * (room - len(r1)) + r1
    view = mask_view(enc, TINY)
    assert list(view.counts.cut) == [0, len(r1) + 1] and "[-" in view.text()
    row = budget_row(e, enc.cutoff_len)
    assert (row["over_cutoff"], row["supervised_lost"], row["turns_lost"], row["first_turn_cut"]) == (True, 0, 0, False)


def test_mask_html_marks_turns_and_special_tokens(model):
    enc = LFEncoder(model, template="qwen3_nothink", cutoff_len=2048)
    page = mask_view(enc, TINY, "tiny")._repr_html_()
    assert page.count(">turn ") == 2
    assert page.count("outline:1px solid") == 1 + 2 * len(TINY)  # the legend, and <|im_start|> <|im_end|> of every message
    assert "&lt;|im_start|&gt;</span>" in page and "background:#c9f2c7" in page


# --- the same labels as LLaMA-Factory's dataset pipeline -------------------------------------------------------------

@pytest.mark.parametrize("overrides", [[], ["training.cutoff_len=1024", "training.mask_history=true"],
                                       ["training.cutoff_len=900", "training.train_on_prompt=true"], ["training.template=qwen3"]])
def test_encoder_equals_llamafactory_get_dataset(data, overrides):
    "Every sample's input_ids and labels equal what LLaMA-Factory's get_dataset gives the trainer for the same config."
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer
    from sft_nb.data.register import register
    from sft_nb.config.lfargs import train_args
    cfg0, convs = data
    cfg = load_config(cfg0.path, ["conversion.data_name=explore", *overrides], run_name="explore-lf")
    register(cfg, quiet=True)
    model_args, data_args, training_args, _, _ = get_train_args(train_args(cfg))
    tm = load_tokenizer(model_args)
    ds = get_dataset(get_template_and_fix_tokenizer(tm["tokenizer"], data_args), model_args, data_args, training_args, "sft", **tm)["train_dataset"]
    enc = LFEncoder.from_config(cfg)
    assert len(ds) == len(convs) == 20
    for i, c in enumerate(convs):
        e = enc.encode(c["lf"])
        assert (e.input_ids, e.labels) == (ds[i]["input_ids"], ds[i]["labels"]), f"sample {i}"


# --- length budget against a direct tokenization --------------------------------------------------------------------

def test_length_budget_matches_direct_tokenization(data, model, tok):
    _, convs = data
    table = length_budget(convs, LFEncoder(model, template="empty", cutoff_len=1 << 20))
    for c, row in zip(convs, table.itertuples()):
        text = "".join(m["content"] for m in c["lf"])  # the segments are the rendered text; the responses train
        supervised = sum(len(ids(tok, m["content"])) for m in c["lf"] if m["role"] == "assistant")
        assert (row.lf_tokens, row.kept_tokens, row.supervised) == (len(ids(tok, text)), len(ids(tok, text)), supervised)
        assert (row.over_cutoff, row.supervised_lost, row.turns_lost, row.first_turn_cut) == (False, 0, 0, False)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_cutoff_after_k_exchanges_loses_the_rest(data, model, tok, k):
    _, convs = data
    lf = convs[0]["lf"]
    cutoff = len(ids(tok, "".join(m["content"] for m in lf[:2 * k])))
    enc = LFEncoder(model, template="empty", cutoff_len=cutoff)
    later = [m for m in lf[2 * k:] if m["role"] == "assistant"]
    row = budget_row(enc.encode(lf), cutoff)
    assert row["over_cutoff"] and row["kept_tokens"] == cutoff and not row["first_turn_cut"]
    assert row["supervised_lost"] == sum(len(ids(tok, m["content"])) for m in later)
    assert row["turns_lost"] == len(later)


def test_cutoff_inside_the_first_turn_is_reported(data, model, tok):
    "With no room for the first exchange, LLaMA-Factory cuts its prompt and reply in proportion (infer_seqlen's third case)."
    _, convs = data
    enc = LFEncoder(model, template="empty", cutoff_len=100)
    table = length_budget(convs, enc)
    assert table.first_turn_cut.all() and (table.kept_tokens == 100).all()
    assert (table.turns_lost == [sum(m["role"] == "assistant" for m in c["lf"]) for c in convs]).all()
    for c, row in zip(convs, table.itertuples()):
        p0, r0 = len(ids(tok, c["lf"][0]["content"])), len(ids(tok, c["lf"][1]["content"]))
        assert row.supervised - row.supervised_lost == int(100 * r0 / (p0 + r0))
    s = budget_summary(table)
    assert (s["truncated_pct"], s["first_turn_cut"], s["turns_lost"]) == (100.0, 20, int(table.turns_lost.sum()))
    assert s["supervised_lost_pct"] == round(100 * s["supervised_lost"] / s["supervised"], 2) > 90


# --- over-length policies -------------------------------------------------------------------------------------------

CUTOFF = 1500  # the demo's conversations are 1336..1812 tokens: some fit, some do not


@pytest.fixture(scope="module")
def tight(model):
    return LFEncoder(model, template="empty", cutoff_len=CUTOFF)


def test_keep_policy_keeps_every_sample_and_counts_the_long_ones(data, tight):
    _, convs = data
    fits = [fit_sample(tight, c["lf"], "keep") for c in convs]
    over = [tight.length(c["lf"]) > CUTOFF for c in convs]
    assert 0 < sum(over) < len(convs)
    assert all(f.messages is c["lf"] for f, c in zip(fits, convs))
    assert [f.action for f in fits] == ["kept" if o else "fits" for o in over]
    assert fit_summary("keep", fits) == {"policy": "keep", "over_cutoff": sum(over), "kept": sum(over), "truncated": 0, "turns_removed": 0, "dropped": 0}


def test_drop_policy_drops_exactly_the_long_ones_with_a_reason(data, tight):
    _, convs = data
    fits = [fit_sample(tight, c["lf"], "drop") for c in convs]
    for f, c in zip(fits, convs):
        n = tight.length(c["lf"])
        assert (f.messages is None) == (n > CUTOFF) and f.tokens == n
        if n > CUTOFF: assert f.action == "dropped" and f"{n} tokens > cutoff_len {CUTOFF}" in f.detail
    assert fit_summary("drop", fits)["dropped"] == sum(f.messages is None for f in fits)


def test_truncate_turns_policy_ends_on_an_assistant_turn_within_budget(data, tight):
    _, convs = data
    truncated = 0
    for c in convs:
        f = fit_sample(tight, c["lf"], "truncate_turns")
        if tight.length(c["lf"]) <= CUTOFF:
            assert f.action == "fits" and f.messages is c["lf"]; continue
        truncated += 1
        m = f.messages
        assert f.action == "truncated" and m == c["lf"][:len(m)] and m[-1]["role"] == "assistant"
        check_lf_sample({"messages": m})
        assert tight.length(m) <= CUTOFF < tight.length(c["lf"][:len(m) + 2])  # the longest prefix that fits
        assert f.turns_removed == (len(c["lf"]) - len(m)) // 2 > 0
        assert budget_row(tight.encode(m), CUTOFF)["supervised_lost"] == 0  # nothing left for LLaMA-Factory to cut
    assert truncated > 0


def test_truncate_turns_drops_a_sample_whose_first_exchange_is_too_long(data, model):
    _, convs = data
    f = fit_sample(LFEncoder(model, template="empty", cutoff_len=500), convs[0]["lf"], "truncate_turns")
    assert f.action == "dropped" and f.messages is None and "first exchange alone" in f.detail


def test_unknown_policy_is_refused(data, tight):
    with pytest.raises(ValueError, match="conversion.over_length"):
        fit_sample(tight, data[1][0]["lf"], "shorten")


# --- template parity ------------------------------------------------------------------------------------------------

def _fast(conv, model):
    "The conversation without any reasoning, rendered as STEP 0 renders fast data."
    im = {**conv["im"], "reasoning": "fast", "messages": [{k: v for k, v in m.items() if k != "reasoning_content"} for m in conv["im"]["messages"]]}
    return {**conv, "im": im, "lf": render_lf(ChatRenderer(model), im["messages"], im["tools"], "fast")}


def test_parity_holds_for_the_configured_template(data, model):
    _, convs = data
    enc = LFEncoder(model, template="empty", cutoff_len=2048)
    assert all(template_parity(enc, c).same for c in convs)
    assert template_parity(enc, _fast(convs[0], model)).same


def test_parity_catches_an_injected_default_system_prompt(data, model):
    _, convs = data
    p = template_parity(LFEncoder(model, template="qwen", cutoff_len=2048), convs[0])
    assert not p.same and " Qwen" in p.lf_context and "Qwen" not in p.hf_context
    assert p.lf_ids[:p.at] == p.hf_ids[:p.at] and p.lf_ids[p.at] != p.hf_ids[p.at]


def test_parity_catches_a_template_that_wraps_the_segments_again(data, model):
    _, convs = data
    p = template_parity(LFEncoder(model, template="qwen3", cutoff_len=2048), _fast(convs[0], model))
    assert not p.same and p.at == 1 and "<|im_start|>" in p.lf_context.split("⟦")[1]
    assert "first difference at token" in str(p)


def test_parity_warning_names_the_template_and_an_example(project, data, model):
    cfg, convs = data
    lf = project / "explore_fast.json"
    lf.write_text(json.dumps([{"messages": _fast(c, model)["lf"], "id": c["instance_id"]} for c in convs]))
    over = ["source.type=local_lf", f"source.lf_path={lf}", "conversion.data_name=explore_fast"]
    convert(load_config(cfg.path, over), quiet=True)
    assert parity_warning(load_config(cfg.path, over)) is None
    w = parity_warning(load_config(cfg.path, [*over, "training.template=qwen3"]), max_samples=5)
    assert w.startswith("training.template 'qwen3': 5 of 5 samples") and "on sample 0" in w


def test_parity_warning_is_silent_before_conversion(project):
    cfg = load_config(project / "config.yaml", ["conversion.data_name=explore_not_converted"])
    assert parity_warning(cfg) is None


# --- command line form and the tutorial -----------------------------------------------------------------------------

def test_show_mask_prints_the_configured_labels(data):
    cfg, convs = data
    text = show_mask(cfg, 3)
    assert text.startswith(f"sample 3 ({convs[3]['instance_id']}) of explore: template empty, cutoff_len 2048")
    assert text.count("── turn ") == sum(m["role"] == "assistant" for m in convs[3]["lf"])
    assert "\x1b[32m" in show_mask(cfg, 3, color=True) and "\x1b[" not in text
    with pytest.raises(ValueError, match="the data has 20 samples"):
        show_mask(cfg, 20)


def test_explore_notebook_runs_under_nbdev_test_in_two_minutes():
    start = time.time()
    res = run([BIN / "nbdev-test", "nbs/explore.ipynb"], cwd=REPO, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert time.time() - start < 120
