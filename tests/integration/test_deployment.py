"""The deployment: the SAM template and the member-account role lint clean with cfn-lint, hold exactly the
policy `tourniquet policy` generates, and the Step Functions state machine is valid and routes, retries and
notifies as it says."""
import json
import os
import subprocess
import tempfile
import unittest

from cfnlint.decode import decode_str

from moto_support import generated_policy, run_tourniquet

SOURCE = os.environ.get("TQ_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
PACKAGING = os.path.join(SOURCE, "packaging")
LAMBDA_ERRORS = {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                 "Lambda.TooManyRequestsException"}


def load_template(name):
    with open(os.path.join(PACKAGING, name)) as f:
        template, problems = decode_str(f.read())
    assert not problems, problems
    return template


def cfn_lint(*paths):
    done = subprocess.run(["cfn-lint", *paths], capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


def generated_actions(**settings):
    """The actions of the generated statement on "*" (TourniquetPlaybooks), which update-policy writes."""
    return playbook_statement([{"Statement": generated_policy(**settings)}])["Action"]


def playbook_statement(policies):
    for policy in policies:
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            if statement.get("Sid") == "TourniquetPlaybooks":
                return statement
    raise AssertionError("no TourniquetPlaybooks statement")


class DeploymentTest(unittest.TestCase):
    def test_templates_pass_cfn_lint(self):
        code, output = cfn_lint(os.path.join(PACKAGING, "template.yaml"), os.path.join(PACKAGING, "member-role.yaml"),
                                os.path.join(PACKAGING, "forwarder.yaml"))
        self.assertEqual(code, 0, output)

    def test_the_forwarder_sends_what_the_home_rules_match_to_the_home_bus_only(self):
        home = load_template("template.yaml")["Resources"]
        forwarder = load_template("forwarder.yaml")
        resources = forwarder["Resources"]
        rules = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::Events::Rule"}
        self.assertEqual(set(rules), {"GuardDutyFindings", "CloudTrailChanges"})
        for name, rule in rules.items():
            self.assertEqual(rule["EventPattern"], home[name]["Properties"]["EventPattern"],
                             f"forwarder.yaml's {name} matches other events than template.yaml's")
            self.assertNotIn("EventBusName", rule, "the forwarder listens where AWS's own events arrive")
            self.assertEqual(rule["Targets"], [{"Id": "home-bus", "Arn": {"Ref": "HomeEventBusArn"},
                                                "RoleArn": {"Fn::GetAtt": ["ForwardToHome", "Arn"]}}], name)
        self.assertEqual(forwarder["Parameters"]["HomeEventBusArn"]["Type"], "String")
        role = resources["ForwardToHome"]["Properties"]
        self.assertEqual([s["Principal"] for s in role["AssumeRolePolicyDocument"]["Statement"]],
                         [{"Service": "events.amazonaws.com"}])
        self.assertNotIn("RoleName", role, "a StackSet makes one per region; role names are global")
        self.assertNotIn("ManagedPolicyArns", role)
        statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
        self.assertEqual(statements, [{"Effect": "Allow", "Action": "events:PutEvents",
                                       "Resource": {"Ref": "HomeEventBusArn"}}])
        self.assertEqual([r["Type"] for r in resources.values()].count("AWS::IAM::Role"), 1)
        self.assertEqual({r["Type"] for r in resources.values()}, {"AWS::IAM::Role", "AWS::Events::Rule"})

    def test_the_home_bus_admits_the_organisations_forwarders_only_when_asked(self):
        template = load_template("template.yaml")
        policy = template["Resources"]["OrganizationForwardersMaySend"]
        self.assertEqual(policy["Condition"], "OrganizationForwarders")
        self.assertEqual(template["Conditions"]["OrganizationForwarders"],
                         {"Fn::Not": [{"Fn::Equals": [{"Ref": "OrganizationId"}, ""]}]})
        statement = policy["Properties"]["Statement"]
        self.assertEqual(statement["Action"], "events:PutEvents")
        self.assertEqual(statement["Condition"], {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}})
        self.assertEqual(policy["Properties"]["EventBusName"], "default")
        variables = template["Resources"]["Responder"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(variables["TOURNIQUET_REGIONS"], {"Ref": "Regions"})

    def test_the_roles_hold_exactly_the_generated_policy(self):
        # The template configures the incident topic, so its role may publish there; member roles do not notify.
        wanted = generated_actions(TOURNIQUET_SNS_TOPIC_ARN="arn:aws:sns:us-east-1:123456789012:tourniquet-incidents")
        self.assertIn("sns:Publish", wanted)
        function = load_template("template.yaml")["Resources"]["Responder"]["Properties"]
        self.assertEqual(playbook_statement(function["Policies"])["Action"], wanted,
                         "template.yaml differs from `tourniquet policy`: run packaging/update-policy")
        member = load_template("member-role.yaml")["Resources"]["MemberRole"]["Properties"]["Policies"]
        self.assertEqual(playbook_statement([p["PolicyDocument"] for p in member])["Action"], generated_actions(),
                         "member-role.yaml differs from `tourniquet policy`: run packaging/update-policy")

    def test_a_role_is_passed_to_ec2_alone(self):
        # Giving a released instance its profile back passes the profile's role to EC2; unconditioned,
        # iam:PassRole would let the role's holder hand any role to any service.
        generated = {s["Sid"]: s for s in generated_policy()}
        wanted = generated["TourniquetPassRoleToEc2"]
        self.assertEqual(wanted["Condition"], {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})
        self.assertNotIn("iam:PassRole", generated["TourniquetPlaybooks"]["Action"])
        function = load_template("template.yaml")["Resources"]["Responder"]["Properties"]["Policies"]
        member = [p["PolicyDocument"] for p in
                  load_template("member-role.yaml")["Resources"]["MemberRole"]["Properties"]["Policies"]]
        for name, policies in (("template.yaml", function), ("member-role.yaml", member)):
            statements = [s for p in policies if isinstance(p, dict) for s in p.get("Statement", [])]
            self.assertIn(wanted, statements, name)
            passing = [s for s in statements if "iam:PassRole" in ([s["Action"]] if isinstance(s["Action"], str)
                                                                    else s["Action"])]
            self.assertEqual(passing, [wanted], name)

    def test_security_hub_updates_add_their_actions_only_when_on(self):
        topic = {"TOURNIQUET_SNS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:tourniquet-incidents"}
        added = sorted(set(generated_actions(**topic, TOURNIQUET_SECURITYHUB_UPDATES="true")) -
                       set(generated_actions(**topic)))
        self.assertEqual(added, ["securityhub:BatchUpdateFindings"])
        # GetFindings is there by default: custom actions are confirmed with Security Hub (TOURNIQUET_CONFIRM_FINDINGS).
        self.assertIn("securityhub:GetFindings", generated_actions(**topic))
        self.assertNotIn("securityhub:GetFindings", generated_actions(**topic, TOURNIQUET_CONFIRM_FINDINGS="false"))
        self.assertIn("securityhub:GetFindings",
                      generated_actions(TOURNIQUET_CONFIRM_FINDINGS="false", TOURNIQUET_SECURITYHUB_UPDATES="true"))
        template = load_template("template.yaml")
        self.assertEqual(template["Parameters"]["SecurityHubUpdates"]["Default"], "false")
        function = template["Resources"]["Responder"]["Properties"]
        self.assertEqual(function["Environment"]["Variables"]["TOURNIQUET_SECURITYHUB_UPDATES"],
                         {"Ref": "SecurityHubUpdates"})
        [conditional] = [p["Fn::If"] for p in function["Policies"] if isinstance(p, dict) and "Fn::If" in p
                         and p["Fn::If"][0] == "SecurityHubUpdatesOn"]
        [statement] = conditional[1]["Statement"]
        self.assertEqual(sorted(statement["Action"]), added)
        self.assertEqual(conditional[2], {"Ref": "AWS::NoValue"})

    def test_security_hub_custom_actions_and_imported_findings_reach_the_function(self):
        template = load_template("template.yaml")
        resources = template["Resources"]
        actions = resources["SecurityHubActions"]["Properties"]
        pattern = actions["EventPattern"]
        # Only Security Hub may put aws.securityhub events: a forger's PutEvents cannot match this rule.
        self.assertEqual(pattern["source"], ["aws.securityhub"])
        self.assertEqual(pattern["detail-type"], ["Security Hub Findings - Custom Action"])
        named = [r["Fn::Sub"] for r in pattern["resources"]]
        self.assertEqual([n.rsplit("/", 1)[1] for n in named],
                         ["TourniquetContain", "TourniquetRelease", "TourniquetDryRun"])
        for n in named:
            self.assertTrue(n.startswith("arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:action/custom/"))
        with open(os.path.join(PACKAGING, "securityhub-action-targets")) as f:
            script = f.read()
        for action_id in ("TourniquetContain", "TourniquetRelease", "TourniquetDryRun"):
            self.assertIn(f"create \"$region\" {action_id} ", script)
        imported = resources["SecurityHubImported"]
        self.assertEqual(imported["Condition"], "ImportedFindingsOn")
        self.assertEqual(template["Parameters"]["SecurityHubImportedFindings"]["Default"], "false")
        self.assertEqual(imported["Properties"]["EventPattern"]["source"], ["aws.securityhub"])
        self.assertEqual(imported["Properties"]["EventPattern"]["detail-type"], ["Security Hub Findings - Imported"])
        self.assertEqual(resources["InvokeFromSecurityHubImported"]["Condition"], "ImportedFindingsOn")

    def test_the_function_settings_are_the_ones_explained(self):
        properties = load_template("template.yaml")["Resources"]["Responder"]["Properties"]
        self.assertEqual(properties["Runtime"], "provided.al2023")
        self.assertEqual(properties["Handler"], "bootstrap")
        self.assertEqual(properties["EventInvokeConfig"]["MaximumRetryAttempts"], 2)
        self.assertIn("OnFailure", properties["EventInvokeConfig"]["DestinationConfig"])
        self.assertEqual(properties["Environment"]["Variables"]["TOURNIQUET_DRY_RUN"], {"Ref": "DryRun"})

    def test_block_requests_arrive_on_their_own_bus(self):
        resources = load_template("template.yaml")["Resources"]
        bus = resources["BlockBus"]
        self.assertEqual(bus["Type"], "AWS::Events::EventBus")
        self.assertEqual(bus["Properties"]["Name"], {"Ref": "BlockBusName"})
        rule = resources["BlockRequests"]["Properties"]
        self.assertEqual(rule["EventBusName"], {"Ref": "BlockBus"}, "Block Addresses must not listen on the default bus")
        self.assertEqual(rule["EventPattern"], {"source": ["tourniquet"], "detail-type": ["Block Addresses"]})
        # Every other rule listens on the default bus, for AWS's own events.
        others = [name for name, r in resources.items() if r["Type"] == "AWS::Events::Rule" and name != "BlockRequests"]
        self.assertTrue(others)
        for name in others:
            self.assertNotIn("EventBusName", resources[name]["Properties"], name)

    def test_the_bus_admits_only_the_named_principals_or_this_account(self):
        statements = load_template("template.yaml")["Resources"]["BlockBus"]["Properties"]["Policy"]["Statement"]
        condition, named, default = statements["Fn::If"]
        self.assertEqual(condition, "NamedBlockPrincipals")
        principals = {"Fn::Split": [",", {"Ref": "BlockRequestPrincipals"}]}
        allow, deny_others = named
        self.assertEqual((allow["Effect"], allow["Action"], allow["Principal"]), ("Allow", "events:PutEvents", {"AWS": principals}))
        self.assertEqual((deny_others["Effect"], deny_others["Action"], deny_others["Principal"]), ("Deny", "events:PutEvents", "*"))
        self.assertEqual(deny_others["Condition"], {"ArnNotLike": {"aws:PrincipalArn": principals}})
        [deny_other_accounts] = default
        self.assertEqual((deny_other_accounts["Effect"], deny_other_accounts["Action"]), ("Deny", "events:PutEvents"))
        self.assertEqual(deny_other_accounts["Condition"],
                         {"StringNotEquals": {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}}})
        for statement in named + default:
            self.assertIn("event-bus/${BlockBusName}", statement["Resource"]["Fn::Sub"])

    def test_only_tourniquets_own_rules_may_invoke_the_function(self):
        resources = load_template("template.yaml")["Resources"]
        rules = {name for name, r in resources.items() if r["Type"] == "AWS::Events::Rule"}
        permissions = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::Lambda::Permission"}
        self.assertTrue(permissions)
        sources = set()
        for name, permission in permissions.items():
            self.assertEqual(permission["Principal"], "events.amazonaws.com", name)
            self.assertEqual(permission["Action"], "lambda:InvokeFunction", name)
            self.assertEqual(permission["SourceAccount"], {"Ref": "AWS::AccountId"}, name)
            [rule, attribute] = permission["SourceArn"]["Fn::GetAtt"]
            self.assertIn(rule, rules, name)
            self.assertEqual(attribute, "Arn", name)
            sources.add(rule)
        self.assertIn("BlockRequests", sources)
        # Each rule's permission is there, and none other; the state machine invokes with its role.
        self.assertEqual(sources, rules)

    def test_rules_and_roles_carry_the_names_the_guardrails_protect(self):
        code, out, err = run_tourniquet(["guardrails"], {k: v for k, v in os.environ.items()
                                                        if not k.startswith("TOURNIQUET_")})
        self.assertEqual(code, 0, err)
        statements = {s["Sid"]: s for s in json.loads(out)["Statement"]}
        resources = load_template("template.yaml")["Resources"]
        self.assertEqual(resources["Responder"]["Properties"]["FunctionName"], "tourniquet")
        self.assertIn("arn:*:lambda:*:*:function:tourniquet", statements["TourniquetFunction"]["Resource"])
        for name, r in resources.items():
            if r["Type"] == "AWS::Events::Rule":
                self.assertTrue(r["Properties"]["Name"].startswith("tourniquet-"), name)
        self.assertIn("arn:*:events:*:*:rule/tourniquet-*", statements["TourniquetRules"]["Resource"])
        bus_name = load_template("template.yaml")["Parameters"]["BlockBusName"]["Default"]
        self.assertIn(f"arn:*:events:*:*:event-bus/{bus_name}", statements["TourniquetRules"]["Resource"])
        self.assertEqual(resources["Responder"]["Properties"]["RolePath"], "/tourniquet/")
        self.assertEqual(resources["Orchestrator"]["Properties"]["RolePath"], "/tourniquet/")
        self.assertEqual(resources["EventsToStepFunctions"]["Properties"]["Path"], "/tourniquet/")
        self.assertIn("arn:*:iam::*:role/tourniquet/*", statements["TourniquetRoles"]["Resource"])

    def test_the_state_machine_is_valid_asl(self):
        with open(os.path.join(PACKAGING, "state-machine.asl.json")) as f:
            definition = json.load(f)
        # cfn-lint checks an inline definition against the Amazon States Language schema.
        substituted = json.loads(json.dumps(definition)
                                 .replace("${ResponderArn}", "arn:aws:lambda:us-east-1:123456789012:function:tourniquet")
                                 .replace("${IncidentTopicArn}", "arn:aws:sns:us-east-1:123456789012:incidents"))
        template = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"Machine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {"RoleArn": "arn:aws:iam::123456789012:role/sfn", "Definition": substituted}}}}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(template, f)
        try:
            code, output = cfn_lint(f.name)
            self.assertEqual(code, 0, output)
        finally:
            os.unlink(f.name)

    def test_the_state_machine_routes_retries_and_notifies(self):
        with open(os.path.join(PACKAGING, "state-machine.asl.json")) as f:
            definition = json.load(f)
        states = definition["States"]
        self.assertIn(definition["StartAt"], states)
        # Every transition lands on a state, and every state is reachable.
        reachable, todo = set(), [definition["StartAt"]]
        while todo:
            name = todo.pop()
            if name in reachable:
                continue
            reachable.add(name)
            state = states[name]
            nexts = [state.get("Next"), state.get("Default")] + [c.get("Next") for c in state.get("Choices", [])] \
                + [c["Next"] for c in state.get("Catch", [])]
            for n in filter(None, nexts):
                self.assertIn(n, states, f"{name} goes to a missing state {n}")
                todo.append(n)
        self.assertEqual(reachable, set(states))
        tasks = {n: s for n, s in states.items() if s["Type"] == "Task" and "lambda:invoke" in s["Resource"]}
        self.assertEqual(set(tasks), {"InstanceContainment", "CredentialContainment", "OtherFindings", "ExposureFix",
                                      "NetworkBlock"})
        for name, task in tasks.items():
            service_retry = [r for r in task["Retry"] if LAMBDA_ERRORS <= set(r["ErrorEquals"])]
            self.assertEqual(len(service_retry), 1, name)
            self.assertGreater(service_retry[0]["BackoffRate"], 1, name)
            self.assertEqual(service_retry[0]["JitterStrategy"], "FULL", name)
            catch = task["Catch"][0]
            self.assertEqual(catch["ErrorEquals"], ["States.ALL"])
            self.assertIn("sns:publish", states[catch["Next"]]["Resource"])
        routes = {c["Next"] for c in states["Route"]["Choices"]}
        self.assertEqual(routes, set(tasks))


if __name__ == "__main__":
    unittest.main()
