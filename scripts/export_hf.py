r"""Export a flan_jax checkpoint as a Hugging Face model directory.

    python scripts/export_hf.py --gin_file=/ckpt/flan-t5-base/model.gin \
        --checkpoint=/runs/tuned/checkpoints/2000 \
        --tokenizer_dir=/ckpt/flan-t5-base/tokenizer --output_dir=/export/tuned

--gin_file gives the MODEL the checkpoint was trained with (a gin/models/ file
or the model.gin written by convert_hf.py). The output holds config.json
(with the fields transformers 5 reads, e.g. T5's scale_decoder_outputs),
model.safetensors (float32) and the tokenizer files found in --tokenizer_dir;
`transformers.AutoModel*.from_pretrained(OUTPUT_DIR)` loads it. The directory
is written under a temporary name and renamed when complete.

A LoRA run (a MODEL with a LoraConfig) exports merged, W + (alpha/r)·A·B; with
--peft only its adapters are written, as adapter_config.json +
adapter_model.safetensors with PEFT's tensor names, for
`peft.PeftModel.from_pretrained(<the exported base>, OUTPUT_DIR)`.
"""

from flan_jax.cli import startup  # sets up TF logging before TensorFlow loads

from absl import flags

from flan_jax.checkpoints import hf_conversion
from flan_jax.cli import gin_config

_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None, "Checkpoint step directory "
    "(<model_dir>/checkpoints/<step>).", required=True)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where to write.",
                                  required=True)
_TOKENIZER_DIR = flags.DEFINE_string(
    "tokenizer_dir", None, "Directory with spiece.model / tokenizer.json to "
    "copy alongside the weights.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False,
                               "Replace OUTPUT_DIR if it exists.")
_PEFT = flags.DEFINE_bool("peft", False, "Write the LoRA adapters alone as a "
                          "Hugging Face PEFT directory.")
_BASE_NAME = flags.DEFINE_string(
    "base_model_name_or_path", None, "With --peft: the base model's hub name "
    "or exported directory, recorded in adapter_config.json.")


def main(argv):
  startup.start_gin_script(argv)
  model = gin_config.model_macro()
  out = hf_conversion.export_checkpoint(
      model, _CHECKPOINT.value, _OUTPUT_DIR.value,
      tokenizer_dir=_TOKENIZER_DIR.value, overwrite=_OVERWRITE.value,
      peft=_PEFT.value, base_model_name_or_path=_BASE_NAME.value)
  print(f"exported {_CHECKPOINT.value} to {out}")


if __name__ == "__main__":
  startup.run_gin_script(main)
