"""Tiny local model folders of every supported family: a byte-level BPE tokenizer trained here with the family's special
tokens and its own pre-tokenizer split pattern (so merges at the cut points behave as with the real tokenizer), and the
publisher's chat template copied from tests/fixtures/templates (see SOURCES.md there). No download."""
import json
from pathlib import Path

TEMPLATES = Path(__file__).parent / "fixtures" / "templates"

# The split patterns of the real tokenizers' pre-tokenizers (tokenizer.json, `Split` regex).
QWEN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
TEKKEN = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
          r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
O200K = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
         r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
DEEPSEEK = r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

CHATML = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
QWEN_EXTRA = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>"]
# name: template file, family, special tokens (bos/eos/pad first), split pattern
FAMILY_MODELS = {
    "qwen3": dict(family="chatml", special=CHATML + QWEN_EXTRA, eos="<|im_end|>", pad="<|endoftext|>", split=QWEN),
    "qwen2_5": dict(family="chatml", special=CHATML + QWEN_EXTRA, eos="<|im_end|>", pad="<|endoftext|>", split=QWEN),
    "llama3_1": dict(family="llama3", special=["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
                                                "<|eom_id|>", "<|python_tag|>", "<|finetune_right_pad_id|>"],
                     bos="<|begin_of_text|>", eos="<|eot_id|>", pad="<|finetune_right_pad_id|>", split=LLAMA3),
    "mistral_small_3_2": dict(family="mistral", special=["<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]",
                                                         "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[TOOL_CALLS]", "[IMG]", "<pad>", "[SYSTEM_PROMPT]",
                                                         "[/SYSTEM_PROMPT]", "[TOOL_CONTENT]", "[ARGS]", "[CALL_ID]"],
                              bos="<s>", eos="</s>", pad="<pad>", split=TEKKEN),
    "glm4_5": dict(family="glm", special=["<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>", "<|assistant|>",
                                          "<|observation|>", "<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>",
                                          "<arg_key>", "</arg_key>", "<arg_value>", "</arg_value>"],
                   eos="<|endoftext|>", pad="<|endoftext|>", split=LLAMA3),
    "gpt_oss": dict(family="gpt_oss", special=["<|endoftext|>", "<|start|>", "<|message|>", "<|channel|>", "<|end|>", "<|call|>", "<|return|>", "<|constrain|>"],
                    eos="<|return|>", pad="<|endoftext|>", split=O200K),
    "deepseek_v3_1": dict(family="deepseek", special=["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>", "<｜User｜>", "<｜Assistant｜>", "<think>", "</think>",
                                                     "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>", "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>",
                                                     "<｜tool▁outputs▁begin｜>", "<｜tool▁outputs▁end｜>", "<｜tool▁output▁begin｜>", "<｜tool▁output▁end｜>", "<｜tool▁sep｜>"],
                          bos="<｜begin▁of▁sentence｜>", eos="<｜end▁of▁sentence｜>", pad="<｜▁pad▁｜>", split=DEEPSEEK),
}


def corpus(job: Path) -> list[str]:
    "Every message, argument and tool schema of the demo job: what the tiny tokenizers learn their merges from."
    from sft_nb.model.demo import demo_corpus
    return demo_corpus(job)


def train_tokenizer(spec: dict, texts: list[str], vocab_size: int = 1500):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(spec["split"]), behavior="isolated"),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=[AddedToken(t, special=True, normalized=False) for t in spec["special"]],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return tok


def build_family_model(name: str, dest: Path, texts: list[str], weights: bool = False) -> Path:
    "A model folder of family `name`: tokenizer, the publisher's chat template, config (and tiny random weights when `weights`)."
    from transformers import PreTrainedTokenizerFast, Qwen2Config
    spec = FAMILY_MODELS[name]
    tok = PreTrainedTokenizerFast(tokenizer_object=train_tokenizer(spec, texts), bos_token=spec.get("bos"), eos_token=spec["eos"],
                                  pad_token=spec["pad"], additional_special_tokens=[t for t in spec["special"] if t not in (spec.get("bos"), spec["eos"], spec["pad"])],
                                  model_max_length=32768, clean_up_tokenization_spaces=False)
    tok.chat_template = (TEMPLATES / f"{name}.jinja").read_text()
    dest.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(dest)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                      max_position_embeddings=32768, tie_word_embeddings=True, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, torch_dtype="float32")
    if weights:
        import torch
        from transformers import Qwen2ForCausalLM
        torch.manual_seed(0)
        Qwen2ForCausalLM(cfg).save_pretrained(dest, safe_serialization=True)
    else: cfg.save_pretrained(dest)
    eot = [tok.convert_tokens_to_ids(t) for t in {"chatml": ["<|im_end|>"], "llama3": ["<|eot_id|>", "<|eom_id|>"], "mistral": ["</s>"],
                                                   "glm": ["<|endoftext|>", "<|user|>", "<|observation|>"], "gpt_oss": ["<|return|>", "<|call|>"],
                                                   "deepseek": ["<｜end▁of▁sentence｜>"]}[spec["family"]]]
    (dest / "generation_config.json").write_text(json.dumps({"eos_token_id": eot, "pad_token_id": tok.pad_token_id, "do_sample": True, "temperature": 0.6}, indent=2) + "\n")
    return dest
