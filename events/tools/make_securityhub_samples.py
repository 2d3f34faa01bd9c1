# Writes the Security Hub samples under events/securityhub/ (run from the repository root): GuardDuty findings as
# Security Hub carries them (ASFF), in custom-action and imported events. The imported one is
# events/guardduty/backdoor-ec2-cc-activity.json, same finding id.
import json, copy
ACC="123456789012"; REG="us-east-1"; DET="3ec5a1f2b8d94c6e9f0a7b2c4d6e8f10"
GD_PRODUCT=f"arn:aws:securityhub:{REG}::product/aws/guardduty"
def gd_arn(fid): return f"arn:aws:guardduty:{REG}:{ACC}:detector/{DET}/finding/{fid}"
def label(sev): return "CRITICAL" if sev>=9 else "HIGH" if sev>=7 else "MEDIUM" if sev>=4 else "LOW"
def norm(sev): return int(sev*10) if sev<7 else 70 if sev<9 else 90
def base(fid, types, sev, title, desc, resources, fields, created="2025-03-04T10:15:52.413Z"):
    return {"SchemaVersion":"2018-10-08","Id":gd_arn(fid),"ProductArn":GD_PRODUCT,
      "ProductName":"GuardDuty","CompanyName":"Amazon","Region":REG,
      "GeneratorId":f"arn:aws:guardduty:{REG}:{ACC}:detector/{DET}","AwsAccountId":ACC,
      "Types":types,"FirstObservedAt":created,"LastObservedAt":created,"CreatedAt":created,"UpdatedAt":created,
      "Severity":{"Product":sev,"Label":label(sev),"Normalized":norm(sev)},
      "Title":title,"Description":desc,"ProductFields":fields,"Resources":resources,
      "WorkflowState":"NEW","Workflow":{"Status":"NEW"},"RecordState":"ACTIVE"}
def svc(fid, extra):
    f={"aws/guardduty/service/archived":"false","aws/guardduty/service/count":"1",
       "aws/guardduty/service/detectorId":DET,"aws/guardduty/service/eventFirstSeen":"2025-03-04T09:58:10.000Z",
       "aws/guardduty/service/eventLastSeen":"2025-03-04T10:09:41.000Z","aws/guardduty/service/resourceRole":"ACTOR",
       "aws/guardduty/service/serviceName":"guardduty",
       "aws/securityhub/FindingId":f"{GD_PRODUCT}/{gd_arn(fid)}","aws/securityhub/ProductName":"GuardDuty",
       "aws/securityhub/CompanyName":"Amazon"}
    f.update(extra); return f
def instance(iid, tags):
    return {"Type":"AwsEc2Instance","Id":f"arn:aws:ec2:{REG}:{ACC}:instance/{iid}","Partition":"aws","Region":REG,
      "Tags":tags,"Details":{"AwsEc2Instance":{"Type":"t3.medium","ImageId":"ami-0c02fb55956c7d316",
        "IpV4Addresses":["10.0.1.25","3.91.45.120"],"IamInstanceProfileArn":f"arn:aws:iam::{ACC}:instance-profile/web-server-profile",
        "VpcId":"vpc-0fedcba9876543210","SubnetId":"subnet-0a1b2c3d4e5f67890","LaunchedAt":"2025-02-11T08:14:22.000Z",
        "NetworkInterfaces":[{"NetworkInterfaceId":"eni-0a1b2c3d4e5f60718"}]}}}
def envelope(kind, findings, action=None, eid="5b2a7c1e-3f4d-4e8a-9b6c-1d2e3f4a5b6c", time="2025-03-04T10:31:12Z"):
    e={"version":"0","id":eid,"detail-type":kind,"source":"aws.securityhub","account":ACC,"time":time,"region":REG,
       "resources":[f"arn:aws:securityhub:{REG}:{ACC}:action/custom/{action}"] if action else [f["ProductFields"]["aws/securityhub/FindingId"] for f in findings],
       "detail":{"findings":findings}}
    if action:
        e["detail"]={"actionName":{"TourniquetContain":"Tourniquet contain","TourniquetRelease":"Tourniquet release","TourniquetDryRun":"Tourniquet dry run"}[action],
                     "actionDescription":{"TourniquetContain":"Contain the finding's resources now","TourniquetRelease":"Put back what Tourniquet changed","TourniquetDryRun":"Show what Tourniquet would do"}[action],
                     "findings":findings}
    return e
tags={"Name":"web-1","Environment":"production","Owner":"platform-team"}
# A MEDIUM port scan by the instance: under every automatic floor.
scan_id="6ac2f0b4e1d84e29a1c6f3b9d8e7a504"
portscan=base(scan_id,["TTPs/Discovery/Recon:EC2-Portscan"],5,"Unusual outbound port scan from i-0123456789abcdef0.",
  "EC2 instance i-0123456789abcdef0 is performing outbound port scans against remote host 198.51.100.77.",
  [instance("i-0123456789abcdef0",tags)],
  svc(scan_id,{"aws/guardduty/service/action/actionType":"NETWORK_CONNECTION",
   "aws/guardduty/service/action/networkConnectionAction/connectionDirection":"OUTBOUND",
   "aws/guardduty/service/action/networkConnectionAction/remoteIpDetails/ipAddressV4":"198.51.100.77",
   "aws/guardduty/service/action/networkConnectionAction/protocol":"TCP"}))
json.dump(envelope("Security Hub Findings - Custom Action",[portscan],"TourniquetContain"),open("events/securityhub/custom-action-contain-instance-medium.json","w"),indent=2)
json.dump(envelope("Security Hub Findings - Custom Action",[portscan],"TourniquetDryRun",eid="7d4e9a2b-6c1f-4b3e-8a5d-2e9f1c3b4a6d"),open("events/securityhub/custom-action-dry-run-instance.json","w"),indent=2)
json.dump(envelope("Security Hub Findings - Custom Action",[portscan],"TourniquetRelease",eid="9e1f3c5a-2b4d-4f6e-8c7a-3d5e7f9b1c2e",time="2025-03-04T12:02:40Z"),open("events/securityhub/custom-action-release-instance.json","w"),indent=2)
key_id="c22121fb05c5feab17c502f5c957e5bf"
keyf=base(key_id,["TTPs/Initial Access/UnauthorizedAccess:IAMUser-MaliciousIPCaller.Custom"],5,
  "API ListBuckets was invoked from an IP address on a custom threat list.",
  "An API was used to access a bucket from an IP address on a custom threat list.",
  [{"Type":"AwsIamAccessKey","Id":"AWS::IAM::AccessKey:AKIAQXYZ7EXAMPLEDEV1","Partition":"aws","Region":REG,
    "Details":{"AwsIamAccessKey":{"PrincipalId":"AIDAQXYZ7EXAMPLEUSER1","PrincipalType":"IAMUser","PrincipalName":"deploy-bot"}}}],
  svc(key_id,{"aws/guardduty/service/action/actionType":"AWS_API_CALL",
   "aws/guardduty/service/action/awsApiCallAction/api":"ListBuckets",
   "aws/guardduty/service/action/awsApiCallAction/serviceName":"s3.amazonaws.com",
   "aws/guardduty/service/action/awsApiCallAction/remoteIpDetails/ipAddressV4":"198.51.100.45",
   "aws/guardduty/service/resourceRole":"TARGET"}))
json.dump(envelope("Security Hub Findings - Custom Action",[keyf],"TourniquetContain",eid="3c8b1d7e-5a2f-4c9e-b6d1-7f3a9e2c5b8d"),open("events/securityhub/custom-action-contain-access-key.json","w"),indent=2)
# The native sample events/guardduty/backdoor-ec2-cc-activity.json, as Security Hub imports it.
bd_id="788413ea1b550f8ce09990354b47be3a"
bd=base(bd_id,["TTPs/Command and Control/Backdoor:EC2-C&CActivity.B"],8,"C&C activity related to i-0123456789abcdef0.",
  "EC2 instance i-0123456789abcdef0 is communicating with an IP address 198.51.100.23 associated with a known command and control server.",
  [instance("i-0123456789abcdef0",tags)],
  svc(bd_id,{"aws/guardduty/service/action/actionType":"NETWORK_CONNECTION",
   "aws/guardduty/service/action/networkConnectionAction/connectionDirection":"OUTBOUND",
   "aws/guardduty/service/action/networkConnectionAction/remoteIpDetails/ipAddressV4":"198.51.100.23",
   "aws/guardduty/service/action/networkConnectionAction/remotePortDetails/port":"443",
   "aws/guardduty/service/action/networkConnectionAction/protocol":"TCP",
   "aws/guardduty/service/count":"3"}))
json.dump(envelope("Security Hub Findings - Imported",[bd],eid="0f6d2b8a-4c1e-4a7f-9d3b-5e8c2a6f1b9d",time="2025-03-04T10:16:30Z"),open("events/securityhub/imported-backdoor-ec2-cc-activity.json","w"),indent=2)
# A function (GuardDuty Lambda Protection) and a bucket (S3 Protection): an analyst contains them from Security Hub.
fn_id="4f7a2c9e1b3d5a6c8e0f2a4b6c8d0e1f"
fnf=base(fn_id,["TTPs/Command and Control/Backdoor:Lambda-C&CActivity.B"],5,
  "Lambda function image-resizer is querying a domain associated with a known command and control server.",
  "Lambda function image-resizer is communicating with an IP address 198.51.100.23 associated with a known command and control server.",
  [{"Type":"AwsLambdaFunction","Id":f"arn:aws:lambda:{REG}:{ACC}:function:image-resizer","Partition":"aws","Region":REG,
    "Tags":{"Team":"media"},
    "Details":{"AwsLambdaFunction":{"FunctionName":"image-resizer","Runtime":"python3.12","Version":"$LATEST",
      "Role":f"arn:aws:iam::{ACC}:role/image-resizer-role","LastModified":"2025-02-20T14:03:11.000+0000"}}}],
  svc(fn_id,{"aws/guardduty/service/action/actionType":"NETWORK_CONNECTION",
   "aws/guardduty/service/action/networkConnectionAction/connectionDirection":"OUTBOUND",
   "aws/guardduty/service/action/networkConnectionAction/remoteIpDetails/ipAddressV4":"198.51.100.23",
   "aws/guardduty/service/action/networkConnectionAction/protocol":"TCP"}))
json.dump(envelope("Security Hub Findings - Custom Action",[fnf],"TourniquetContain",eid="2a6e8c0f-7b3d-4e1a-9c5f-4b8d2e6a0c3f"),open("events/securityhub/custom-action-contain-lambda-function.json","w"),indent=2)
s3_id="8b2d4f6a0c1e3a5b7d9f1b3d5f7a9c2e"
s3f=base(s3_id,["Software and Configuration Checks/Policy:S3.BucketBlockPublicAccessDisabled"],2,
  "Amazon S3 Block Public Access was disabled for S3 bucket acme-reports-archive.",
  "Amazon S3 Block Public Access was disabled for S3 bucket acme-reports-archive by deploy-bot calling PutBucketPublicAccessBlock.",
  [{"Type":"AwsS3Bucket","Id":"arn:aws:s3:::acme-reports-archive","Partition":"aws","Region":REG,
    "Tags":{"team":"finance"},
    "Details":{"AwsS3Bucket":{"Name":"acme-reports-archive","OwnerId":"0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
      "CreatedAt":"2024-06-03T09:12:44.000Z"}}}],
  svc(s3_id,{"aws/guardduty/service/action/actionType":"AWS_API_CALL",
   "aws/guardduty/service/action/awsApiCallAction/api":"PutBucketPublicAccessBlock",
   "aws/guardduty/service/action/awsApiCallAction/serviceName":"s3.amazonaws.com",
   "aws/guardduty/service/resourceRole":"TARGET"}))
json.dump(envelope("Security Hub Findings - Custom Action",[s3f],"TourniquetContain",eid="6d0b2f4e-8a1c-4d3e-b5f7-9c1e3a5d7b9f"),open("events/securityhub/custom-action-contain-s3-bucket.json","w"),indent=2)
