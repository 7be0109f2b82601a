"""The three front doors (one Lambda code path behind each) and the optional custom domain.

- function-url: a Lambda Function URL (auth NONE: the registry does its own
  auth; BUFFERED), no charge beyond Lambda's; with a domain, CloudFront in front.
- http-api: an API Gateway HTTP API, `$default` stage so /v2/ is at the host root.
- rest: Chalice's REST API; its default endpoint has the stage in the path
  (`/api/v2/`), which registry clients cannot use: it needs a custom domain.
"""
from __future__ import annotations

from typing import Any

from .settings import DeploySettings

# AWS-managed CloudFront policies: no caching; every viewer header but Host goes to
# the origin (a Function URL refuses other Host values). With caching disabled the
# Authorization header is forwarded as well.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
CLOUDFRONT_ZONE = "Z2FDTNDATAQYW2"  # the hosted zone id of every CloudFront alias target
FUNCTION_ARN = {"Fn::GetAtt": ["APIHandler", "Arn"]}


def _certificate(t: dict[str, Any], s: DeploySettings) -> Any:
    if s.certificate_arn:
        return s.certificate_arn
    t["Resources"]["Certificate"] = {
        "Type": "AWS::CertificateManager::Certificate",
        "Properties": {"DomainName": s.domain, "ValidationMethod": "DNS",
                       "DomainValidationOptions": [{"DomainName": s.domain, "HostedZoneId": s.hosted_zone_id}]},
    }
    return {"Ref": "Certificate"}


def _alias_records(t: dict[str, Any], s: DeploySettings, target: Any, zone: Any) -> None:
    if not s.hosted_zone_id:
        return
    for kind in ("A", "AAAA"):
        t["Resources"][f"DomainRecord{kind}"] = {
            "Type": "AWS::Route53::RecordSet",
            "Properties": {"HostedZoneId": s.hosted_zone_id, "Name": s.domain, "Type": kind,
                           "AliasTarget": {"DNSName": target, "HostedZoneId": zone}},
        }


def _drop_rest_api(t: dict[str, Any]) -> None:
    for rid in ("RestAPI", "APIHandlerInvokePermission"):
        t["Resources"].pop(rid, None)


def function_url(t: dict[str, Any], s: DeploySettings) -> Any:
    _drop_rest_api(t)
    res = t["Resources"]
    res["FunctionUrl"] = {
        "Type": "AWS::Lambda::Url",
        "Properties": {"TargetFunctionArn": FUNCTION_ARN, "AuthType": "NONE", "InvokeMode": "BUFFERED"},
    }
    # Public on purpose: the registry authenticates every request itself. Since
    # October 2025 a new URL needs both permissions; the second one is limited to
    # invocations that come through the URL.
    res["FunctionUrlPublicAccess"] = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {"Action": "lambda:InvokeFunctionUrl", "FunctionName": {"Ref": "APIHandler"},
                       "Principal": "*", "FunctionUrlAuthType": "NONE"},
    }
    res["FunctionUrlInvoke"] = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {"Action": "lambda:InvokeFunction", "FunctionName": {"Ref": "APIHandler"},
                       "Principal": "*", "InvokedViaFunctionUrl": True},
    }
    url = {"Fn::GetAtt": ["FunctionUrl", "FunctionUrl"]}
    if not s.domain:
        return url  # https://<id>.lambda-url.<region>.on.aws/
    origin = {"Fn::Select": [2, {"Fn::Split": ["/", url]}]}
    res["Distribution"] = {
        "Type": "AWS::CloudFront::Distribution",
        "Properties": {"DistributionConfig": {
            "Enabled": True,
            "Comment": {"Fn::Sub": "${AWS::StackName} registry"},
            "Aliases": [s.domain],
            "HttpVersion": "http2and3",
            "IPV6Enabled": True,
            "PriceClass": "PriceClass_100",
            "Origins": [{"Id": "function-url", "DomainName": origin, "CustomOriginConfig": {
                "OriginProtocolPolicy": "https-only", "OriginSSLProtocols": ["TLSv1.2"],
                "OriginReadTimeout": 30}}],
            "DefaultCacheBehavior": {
                "TargetOriginId": "function-url", "ViewerProtocolPolicy": "https-only",
                "AllowedMethods": ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
                "CachedMethods": ["GET", "HEAD"], "Compress": False,
                "CachePolicyId": CACHING_DISABLED, "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST,
            },
            "ViewerCertificate": {"AcmCertificateArn": _certificate(t, s), "SslSupportMethod": "sni-only",
                                  "MinimumProtocolVersion": "TLSv1.2_2021"},
        }},
    }
    _alias_records(t, s, {"Fn::GetAtt": ["Distribution", "DomainName"]}, CLOUDFRONT_ZONE)
    return f"https://{s.domain}/"


def http_api(t: dict[str, Any], s: DeploySettings) -> Any:
    _drop_rest_api(t)
    res = t["Resources"]
    res["HttpApi"] = {"Type": "AWS::ApiGatewayV2::Api",
                      "Properties": {"Name": {"Ref": "AWS::StackName"}, "ProtocolType": "HTTP",
                                     "DisableExecuteApiEndpoint": bool(s.domain)}}
    res["HttpApiIntegration"] = {
        "Type": "AWS::ApiGatewayV2::Integration",
        "Properties": {"ApiId": {"Ref": "HttpApi"}, "IntegrationType": "AWS_PROXY",
                       "IntegrationUri": FUNCTION_ARN, "PayloadFormatVersion": "2.0",
                       "TimeoutInMillis": 30000},
    }
    res["HttpApiRoute"] = {
        "Type": "AWS::ApiGatewayV2::Route",
        "Properties": {"ApiId": {"Ref": "HttpApi"}, "RouteKey": "$default",
                       "Target": {"Fn::Sub": "integrations/${HttpApiIntegration}"}},
    }
    res["HttpApiStage"] = {
        "Type": "AWS::ApiGatewayV2::Stage",
        "Properties": {"ApiId": {"Ref": "HttpApi"}, "StageName": "$default", "AutoDeploy": True},
    }
    res["HttpApiInvoke"] = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {"Action": "lambda:InvokeFunction", "FunctionName": {"Ref": "APIHandler"},
                       "Principal": "apigateway.amazonaws.com",
                       "SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:"
                                                "${AWS::AccountId}:${HttpApi}/*"}},
    }
    if not s.domain:
        return {"Fn::Sub": "${HttpApi.ApiEndpoint}/"}
    res["HttpApiDomain"] = {
        "Type": "AWS::ApiGatewayV2::DomainName",
        "Properties": {"DomainName": s.domain, "DomainNameConfigurations": [{
            "CertificateArn": _certificate(t, s), "EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}]},
    }
    res["HttpApiMapping"] = {
        "Type": "AWS::ApiGatewayV2::ApiMapping", "DependsOn": ["HttpApiStage"],
        "Properties": {"ApiId": {"Ref": "HttpApi"}, "DomainName": {"Ref": "HttpApiDomain"}, "Stage": "$default"},
    }
    _alias_records(t, s, {"Fn::GetAtt": ["HttpApiDomain", "RegionalDomainName"]},
                   {"Fn::GetAtt": ["HttpApiDomain", "RegionalHostedZoneId"]})
    return f"https://{s.domain}/"


def rest(t: dict[str, Any], s: DeploySettings) -> Any:
    api = t["Resources"]["RestAPI"]["Properties"]
    stage = api["StageName"]
    if not s.domain:
        # The stage is part of the path: fine for curl, not for registry clients.
        return {"Fn::Sub": f"https://${{RestAPI}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{stage}/"}
    domain: dict[str, Any] = {"DomainName": s.domain, "CertificateArn": _certificate(t, s),
                              "EndpointConfiguration": "REGIONAL", "SecurityPolicy": "TLS_1_2",
                              "BasePath": ["/"]}
    if s.hosted_zone_id:
        domain["Route53"] = {"HostedZoneId": s.hosted_zone_id, "IpV6": True}
    api["Domain"] = domain
    api["DisableExecuteApiEndpoint"] = True
    return f"https://{s.domain}/"


def add(t: dict[str, Any], s: DeploySettings) -> Any:
    """Add the front door of `s` to `t`; returns the registry's base URL (a template value)."""
    return {"function-url": function_url, "http-api": http_api, "rest": rest}[s.front](t, s)
