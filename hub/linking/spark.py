"""The probabilistic stage on Apache Spark, for a store beyond one machine (``HUB_LINK_ENGINE=spark``):
Splink's Spark backend blocks and scores the pairs with the model the hub trained, on ``local[2]`` in the
tests and on a cluster in production (``HUB_SPARK_MASTER``). Contracts, consent and the audit log are the
hub's either way: Spark sees only the comparison frame of one run, and the run's ``link.completed``
event names the engine.

The frame holds names in clear, so:

- what Spark writes to local disks (shuffle and spill files, cached blocks) is encrypted
  (``spark.io.encryption.enabled``), and with that on, PySpark hands the rows to the JVM over a socket
  rather than a temporary file;
- Splink keeps its intermediate tables in memory (``persist``) instead of writing parquet checkpoints;
- on a cluster, executors exchange rows over the network: set ``spark.authenticate`` and
  ``spark.network.crypto.enabled`` in the cluster's configuration (``docs/operations.md``).
"""
from __future__ import annotations

import datetime as dt
from functools import cache

import pandas as pd

#: Spark types of the comparison frame's columns (:data:`hub.linking.records.FEATURE_COLUMNS`) that are
#: not text.
_TYPES = {"unique_id": "long", "byear": "long", "bmonth": "long", "bday": "long", "near": "long", "dob": "date",
          "dirty": "boolean"}


@cache
def spark_session(master: str):
    """This process's Spark session at ``master`` (made once), configured as the module says."""
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    session = (SparkSession.builder.master(master).appName("saphan-link")
               .config("spark.jars", similarity_jar_location())
               .config("spark.io.encryption.enabled", "true")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "8")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    return session


def _value(value, kind: str | None):
    """A frame cell as Spark takes it: missing values (``NA``, ``NaN``, ``NaT``) as ``None`` (a ``NaN``
    equals itself in Spark SQL, so two missing values would match), dates as dates, integers as ints."""
    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if kind == "date":
        return value.date() if isinstance(value, pd.Timestamp | dt.datetime) else value
    if kind == "long":
        return int(value)
    return value


def spark_frame(spark, df: pd.DataFrame):
    """``df`` (the comparison frame) as a Spark DataFrame with explicit types."""
    from pyspark.sql.types import BooleanType, DateType, LongType, StringType, StructField, StructType

    types = {"long": LongType(), "date": DateType(), "boolean": BooleanType()}
    kinds = [_TYPES.get(column) for column in df.columns]
    schema = StructType([StructField(c, types[k] if k else StringType(), True) for c, k in zip(df.columns, kinds)])
    rows = [tuple(_value(v, k) for v, k in zip(row, kinds)) for row in df.astype(object).itertuples(index=False)]
    return spark.createDataFrame(rows, schema)


def spark_linker(df: pd.DataFrame, settings: dict, master: str):
    """A Splink linker over ``df`` on Spark at ``master`` (``settings`` in Spark's SQL dialect)."""
    from splink import Linker
    from splink.backends.spark import SparkAPI

    spark = spark_session(master)
    return Linker(spark_frame(spark, df), settings, set_up_basic_logging=False,
                  db_api=SparkAPI(spark_session=spark, break_lineage_method="persist"))
