"""What an operator watches: Prometheus metrics (`metrics`) and OpenTelemetry traces (`tracing`).

The bottom layer: every other package may record into it, and it imports nothing of dealgraph but settings.
"""
