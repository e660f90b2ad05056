def test_the_decode_bench_measures_the_gzip_path_and_the_bomb():
    from bench import decode

    result = decode.measure(repeat=1, number=5)
    assert result["batch_gzip_bytes"] < result["batch_bytes"] and result["calls_per_batch"] == 20
    assert result["gzip_us_per_request"] > result["identity_us_per_request"] > 0
    assert result["large_batch"]["bytes"] <= result["limit_bytes"]
    assert result["bomb"]["refused_after_cpu_ms"] > 0
