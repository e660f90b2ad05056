"""The lab: simulated shops with known ground truth, on which Emma's methods are evaluated
(``emma recommend evaluate``, ``emma predict validate``, the benchmarks). Never shipped to Lambda."""
