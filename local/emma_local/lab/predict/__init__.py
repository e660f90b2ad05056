"""The predictions validated on a simulated shop with known ground truth: ``simulate`` generates the
shop, ``validate`` scores every customer the way the system does and compares (``emma predict
validate``); and on real customers: ``real`` runs the same comparison on the CDNOW cohort from the
``lifetimes`` dev extra, against recency and lifetimes' BG/NBD and MBG/NBD (``emma predict validate
--data cdnow``; it needs numpy, so it is not imported here). See docs/predictions.md."""
