"""The predictions validated on a simulated shop with known ground truth: ``simulate`` generates the
shop, ``validate`` scores every customer the way the system does and compares (``emma predict
validate``). See docs/predictions.md."""
