"""The EMR cluster of a bulk load on current defaults: the v2 service role, and a fixed executor count from
the cluster's shape (one executor per core node, sized to the node) since dynamic allocation stays off."""

from __future__ import annotations

from mysql2dynamo.emr import definitions as d


def test_the_cluster_uses_the_v2_role_and_one_full_executor_per_core_node():
    emr = d.emr_settings({"artifacts": "s3://b/m2d/", "core": {"count": 5}})
    urls = d.artifact_urls(emr, "w.whl")
    step = d.job_step(emr, urls, ["--manifest", "s3://b/snap"])
    request = d.cluster_request(emr, urls, [step])
    assert request["ServiceRole"] == "EMR_DefaultRole_V2"
    maximize = {"Classification": "spark", "Properties": {"maximizeResourceAllocation": "true"}}
    assert maximize in request["Configurations"]
    args = step["HadoopJarStep"]["Args"]
    assert "spark.dynamicAllocation.enabled=false" in args and "spark.executor.instances=5" in args
    given = d.emr_settings({"core": {"count": 5}, "spark_conf": {"spark.executor.instances": "12"}})
    assert d.spark_conf(given)["spark.executor.instances"] == "12"
    serverless = d.serverless_job_run({**emr, "serverless": {"application_id": "a", "execution_role_arn": "r",
                                                                "python_env": "s3://b/env.tar.gz"}},
                                      urls, [])
    assert "spark.executor.instances" not in serverless["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"]
