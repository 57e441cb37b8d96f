"""Turn-taking latency benchmark: medvoice's service against pipecat's stock pipeline, same audio."""
