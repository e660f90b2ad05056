"""Recommendations: what this customer would want next (co-purchase, content affinity, compatible
accessories, upgrades, new arrivals, popularity), each with the reason it was chosen."""
