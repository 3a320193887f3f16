r"""Predictions or scores of a checkpoint for any task, written as JSONL.

    python scripts/infer.py --gin_file=runs/infer.gin --gin_file=models/t5_demo.gin \
        --gin.CHECKPOINT="'/tmp/flan_jax_demo'" \
        --gin.INFER_TASK="'demo:sst_demo:t0:score'" \
        --gin.INFER_OUTPUT="'/tmp/sst_t0.jsonl'" --gin.infer.mode="'score'"

mode 'predict' writes generated text (generation tasks) or the chosen
option (rank classification); mode 'score' writes log-likelihoods of the
target or of every option. See flan_jax/inference.py.
"""

from flan_jax import cli  # sets up TF logging before TensorFlow loads


from flan_jax import gin_utils


def main(argv):
  cli.start_gin_script(argv)
  count = gin_utils.infer()
  print(f"{count} lines -> {gin_utils.query('infer.output_path')}")


if __name__ == "__main__":
  cli.run_gin_script(main)
