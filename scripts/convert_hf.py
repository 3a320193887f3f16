r"""Convert a local Hugging Face model directory into a flan_jax checkpoint.

    python scripts/convert_hf.py --hf_dir=/models/flan-t5-base \
        --output_dir=/ckpt/flan-t5-base

Reads config.json and the safetensors weights (a sharded
model.safetensors.index.json too; pickled .bin files are refused) of a
T5 (the original T5, T5 v1.1, FLAN-T5, mT5, UL2), Llama, Mistral, Qwen2,
Qwen3 or Gemma 3 (text) model and writes

    OUTPUT_DIR/checkpoints/0   orbax checkpoint (train.initial_checkpoint)
    OUTPUT_DIR/model.gin       the model config that reproduces it (MODEL)
    OUTPUT_DIR/tokenizer/      spiece.model / tokenizer.json, if present

config.json is read as transformers 5 reads it; a field that would make the
converted model compute other logits (an unsupported RoPE type, Qwen
windows on only some layers, a non-gated T5 MLP other than ReLU, Gemma 2's
attention soft cap, an unknown field) is refused; each family's adapter
(flan_jax/models/hf_t5.py, hf_llama.py, hf_gemma3.py) lists its fields. Every tensor is
checked against config.json first; any problem stops with one line naming
the tensor or field, and OUTPUT_DIR is then never created.

--peft_dir=ADAPTER adds a Hugging Face PEFT LoRA adapter (adapter_config.json
+ adapter_model.safetensors, e.g. trained with trl) to the checkpoint and its
LoraConfig to model.gin; an adapter made for another base, or naming layers
this base lacks, is refused in one line.
"""

from flan_jax.cli import startup  # sets up TF logging before TensorFlow loads


from absl import app
from absl import flags

from flan_jax.checkpoints import hf_conversion

_HF_DIR = flags.DEFINE_string("hf_dir", None, "Hugging Face model directory.",
                              required=True)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where to write.",
                                  required=True)
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"],
                           "Compute dtype recorded in model.gin (parameters "
                           "are stored in float32 either way).")
_SCAN = flags.DEFINE_bool("scan_layers", False,
                          "Store layers stacked for nn.scan.")
_REMAT = flags.DEFINE_enum("remat_policy", "none",
                           ["none", "full", "dots", "dots_no_batch"],
                           "Rematerialisation policy recorded in model.gin.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False,
                               "Replace OUTPUT_DIR if it exists.")
_PEFT_DIR = flags.DEFINE_string("peft_dir", None, "A PEFT LoRA adapter "
                                "directory to put onto the converted base.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  startup.setup_logging()
  checkpoint = hf_conversion.convert_to_checkpoint(
      _HF_DIR.value, _OUTPUT_DIR.value, overwrite=_OVERWRITE.value,
      peft_dir=_PEFT_DIR.value,
      dtype=_DTYPE.value, scan_layers=_SCAN.value, remat_policy=_REMAT.value)
  print(f"checkpoint: {checkpoint}\n"
        f"model gin:  {_OUTPUT_DIR.value}/model.gin\n"
        f"train with: --gin_file={_OUTPUT_DIR.value}/model.gin "
        f"--gin.train.initial_checkpoint=\"'{checkpoint}'\"")


if __name__ == "__main__":
  startup.run_script(main)
