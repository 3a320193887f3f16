r"""Predictions or scores of a checkpoint for any task, written as JSONL.

    python scripts/infer.py --gin_file=runs/infer.gin --gin_file=models/t5_demo.gin \
        --gin.CHECKPOINT="'/tmp/flan_jax_demo'" \
        --gin.INFER_TASK="'demo:sst_demo:t0:score'" \
        --gin.INFER_OUTPUT="'/tmp/sst_t0.jsonl'" --gin.infer.mode="'score'"

mode 'predict' writes generated text (generation tasks) or the chosen
option (rank classification); mode 'score' writes log-likelihoods of the
target or of every option. See flan_jax/evaluation/inference.py.
"""

from flan_jax.cli import startup  # sets up TF logging before TensorFlow loads


from flan_jax.cli import gin_config


def main(argv):
  startup.start_gin_script(argv)
  count = gin_config.infer()
  print(f"{count} lines -> {gin_config.query('infer.output_path')}")


if __name__ == "__main__":
  startup.run_gin_script(main)
