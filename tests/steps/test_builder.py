"""The one step builder: trainer, planner, loader and eval runner agree."""

import json
import os
import subprocess
import sys
import textwrap

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_trainer_planner_loader_and_runner_build_identical_shardings(tmp_path):
  # Meshes where the rule table alone would not do: 4 heads on an 8-way
  # model axis do not split (the layout must fall back to replicated there,
  # as the trainer's does), and FSDP puts embed over data as well.
  script = textwrap.dedent("""
      import json, sys
      import jax, toy_training
      from jax.sharding import PartitionSpec as P
      from flan_jax.checkpoints import checkpointer, loading
      from flan_jax.evaluation import runner
      from flan_jax.parallel import partitioning
      from flan_jax.steps import builder
      from flan_jax.train import planning, train_state
      model, optimizer = toy_training.tiny_model(), toy_training.tiny_optimizer()
      shapes = builder.model_input_shapes(model.feature_converter(pack=True),
                                          toy_training.LENGTHS, 8)
      specs = lambda tree: [s.spec if hasattr(s, "spec") else s.sharding.spec
                            for s in jax.tree.leaves(tree)]
      meshes = [({"data": 8, "model": 1}, False), ({"data": 2, "model": 4}, True),
                ({"data": 1, "model": 8}, False), ({"data": 4, "model": 2}, True)]
      for i, (mesh_shape, fsdp) in enumerate(meshes):
        part = partitioning.Partitioner(mesh_shape, fsdp=fsdp)
        # The trainer's state, initialised in its shardings.
        state = train_state.step_builder(model, optimizer, part, shapes,
                                         0).init_state()
        trained = [a.sharding for a in jax.tree.leaves(state.params)]
        # The planner's, on an abstract mesh of as many devices.
        plan = planning.plan_builder(
            model=model, optimizer=optimizer, mesh_shape=mesh_shape,
            num_devices=8, batch_size=8,
            task_feature_lengths=toy_training.LENGTHS, fsdp=fsdp)
        assert specs(plan.state_shardings) == specs(state), mesh_shape
        # The loader's: a checkpoint of those parameters restored.
        ckpt = checkpointer.Checkpointer(f"{sys.argv[1]}/{i}", async_save=False)
        ckpt.save_params(0, state.params, None)
        ckpt.close()
        loaded = loading.load_params(model, f"{sys.argv[1]}/{i}", 0, part)
        assert [a.sharding for a in jax.tree.leaves(loaded)] == trained, \\
            mesh_shape
        # The eval runner keeps them as they are.
        scorer = runner.ModelRunner(model, loaded, part, 8)
        assert [a.sharding for a in jax.tree.leaves(scorer.params)] == trained
        print(json.dumps([str(s) for s in specs(state.params)]))
      print("ok")
  """)
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
             PYTHONPATH=os.pathsep.join([TESTS_DIR, os.path.dirname(TESTS_DIR)]))
  out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env,
                       capture_output=True, text=True, timeout=600,
                       check=False)
  assert out.returncode == 0 and out.stdout.strip().endswith("ok"), \
      out.stderr[-3000:]
  layouts = [json.loads(line) for line in out.stdout.strip().splitlines()[:-1]]
  assert len(layouts) == 4
  # The meshes really lay the parameters out differently: data parallel,
  # FSDP, and an 8-way model axis that 4 heads do not divide, so there the
  # trainer's layout (and now everyone's) keeps those dimensions whole.
  assert len({tuple(layout) for layout in layouts[:3]}) == 3
  assert any("'model'" in dp and "'model'" not in wide
             for dp, wide in zip(layouts[0], layouts[2]))
