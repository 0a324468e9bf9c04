"""An HTTP detection server on ppfcos_runtime's runtime layer (``ppfcos-serve``).

    ppfcos-serve --model_dir output_inference/fcos_r18_lite_synthetic [--backend openvino]

``cli`` parses the flags into ``settings.ServeSettings``; ``server`` runs uvicorn with the
slow-client timeouts and a graceful shutdown; ``app`` has the FastAPI routes; ``batching``
groups concurrent requests into predictor runs; ``predictors`` holds the predictors (in
the server's process or in processes of their own); ``uploads`` and ``decoding`` turn request
bodies into checked images; ``metrics`` counts in Prometheus' format; ``errors`` makes every
refusal one line of JSON; ``loadgen`` is the bounded load generator of
benchmarks/benchmark_serve.py and the tests. Needs ``pip install -e .[serve]``.
"""
