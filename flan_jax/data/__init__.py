"""Data: templates, task registration, rank classification, mixtures, metrics."""

from flan_jax.data.mixtures import register_cluster_mixtures
from flan_jax.data.registry import DatasetSpec, register_dataset
from flan_jax.data.templates import Template, TemplateError
