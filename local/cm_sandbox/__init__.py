"""The CM simulator as an AWS Lambda behind its own API (template parameter CmSandbox=true)."""
