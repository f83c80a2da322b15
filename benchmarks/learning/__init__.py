"""The learning benchmark (issue 7): simulated users, calsync's own planner, metrics.

* :mod:`benchmarks.learning.simulate` — hidden user models, the interaction
  protocol and the learners (seed EMA, random, oracle);
* :mod:`benchmarks.learning.metrics` — regret, hit@1, recall@3, NDCG@5,
  acceptance and their aggregation with 95 % confidence intervals;
* :mod:`benchmarks.learning.run` — the command line.

See ``benchmarks/learning/README.md`` for the protocol and every definition.
"""
